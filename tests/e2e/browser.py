"""A headless system Chromium driven by Playwright, for the browser end-to-end tests.

Playwright's Python package brings its driver only; the browser is Debian's ``chromium``
package (``apt-get install -y chromium``), launched through ``executable_path``: nothing is
downloaded at run time (never run ``playwright install`` for these tests).

Chromium needs the flags in :data:`CHROMIUM_ARGS` and a fresh user-data directory, or it
stalls on a machine without network access. Every wait is bounded (:data:`ACTION_TIMEOUT_MS`,
:data:`NAVIGATION_TIMEOUT_MS`, :data:`LAUNCH_TIMEOUT_MS`).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Where screenshots go (``.artifacts/`` is git-ignored; CI keeps it as an artifact).
SCREENSHOT_DIR = REPO_ROOT / ".artifacts" / "screenshots"

#: Set this to use another Chromium binary.
CHROMIUM_ENV = "I2V_CHROMIUM"
_CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium", "/usr/lib/chromium/chromium")

CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

LAUNCH_TIMEOUT_MS = 60_000
NAVIGATION_TIMEOUT_MS = 60_000
ACTION_TIMEOUT_MS = 30_000
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1400, 1600  # tall enough for the whole connection form


def find_chromium() -> str | None:
    """The system Chromium's path (``$I2V_CHROMIUM`` first), or None."""
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    candidates = (configured,) if configured else _CHROMIUM_CANDIDATES
    for candidate in candidates:
        path = shutil.which(candidate)
        if path:
            return path
    return None


def skip_reason() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        found = importlib.util.find_spec("playwright") is not None
    except (ImportError, ValueError):  # pragma: no cover - a broken installation
        found = False
    if not found:
        return (
            "the Python package 'playwright' is not installed (pip install 'playwright>=1.40'; "
            "no 'playwright install' needed: the system Chromium is used)"
        )
    if find_chromium() is None:
        configured = os.environ.get(CHROMIUM_ENV, "").strip()
        if configured:
            return f"${CHROMIUM_ENV}={configured!r} is not an executable Chromium"
        return f"no Chromium on PATH (apt-get install -y chromium, or set ${CHROMIUM_ENV} to its path)"
    return None


@contextmanager
def chromium_context(executable: str, user_data_dir: Path) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile in ``user_data_dir``; closed on exit."""
    from playwright.sync_api import sync_playwright

    user_data_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(user_data_dir),
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_ARGS),
            timeout=LAUNCH_TIMEOUT_MS,
            viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
            accept_downloads=False,
        )
        try:
            context.set_default_timeout(ACTION_TIMEOUT_MS)
            context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
            yield context
        finally:
            context.close()


def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Sign in through the simple auth manager's login page (where ``/`` redirects to)."""
    page.goto(base_url.rstrip("/") + "/")
    # Wait for the form, not for one URL: "/" goes through more than one redirect, and waiting
    # on a navigation that a later redirect replaces fails as "frame was detached".
    page.get_by_label("Username").wait_for()
    assert "/auth/login" in page.url, page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save a PNG of the page as ``.artifacts/screenshots/<name>.png``; return its path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
