"""What a user sees in the Airflow 3.3 UI, in a real headless Chromium (Playwright).

* The connection form for the ``i2v`` type ("Image to Video (Vtrix)"): the standard fields
  that do not apply are hidden, the password is relabelled "API key", the host is the
  "Gateway URL" with the default gateway as placeholder, and the client options (timeout,
  retry budget, back-off, TLS verification, proxy) are typed extra fields with their defaults.
* A finished mapped ``generate`` task instance of the example DAG: its "Generated video"
  extra link (Details tab) points at the video, the same URL the REST API reports.

Screenshots go to ``.artifacts/screenshots/`` and their paths are printed. The tests skip,
with the reason, where the ``playwright`` package or a system Chromium is missing (CI
installs Debian's ``chromium``); no browser is ever downloaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import pytest

from airflow_provider_i2v.get_provider_info import get_provider_info
from airflow_provider_i2v.hooks.settings import (
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
)
from tests.e2e import browser

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from dev.airflow_stack import AirflowStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "i2v_product_videos"
TASK_ID = "generate"
LINK_NAME = "Generated video"
LINK_XCOM_KEY = "_link_I2VVideoLink"
HOOK_NAME = "Image to Video (Vtrix)"
DEFAULT_GATEWAY = "https://cloud.vtrix.ai"

#: The extra fields a user sees, in order: label -> (control, default shown, minimum).
EXTRA_FIELDS: dict[str, tuple[str, Any, float | None]] = {
    "Request timeout (s)": ("number", DEFAULT_TIMEOUT, 0.1),
    "Retry budget": ("number", DEFAULT_MAX_RETRIES, 0),
    "Initial back-off (s)": ("number", DEFAULT_BACKOFF_INITIAL, 0),
    "Maximum back-off (s)": ("number", DEFAULT_BACKOFF_MAX, 0),
    "Verify TLS certificates": ("switch", True, None),
    "Proxy URL": ("text", "", None),
    "Allow private output URLs": ("switch", False, None),
}


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The system Chromium; skips (before any Airflow starts) when it or Playwright is missing."""
    reason = browser.skip_reason()
    if reason:
        pytest.skip(reason)
    path = browser.find_chromium()
    assert path is not None
    return path


@pytest.fixture
def page(chromium_executable: str, airflow_stack: AirflowStack, tmp_path: Path) -> Iterator[Page]:
    """A fresh headless Chromium (new profile), signed in to the stack's UI as admin."""
    with browser.chromium_context(chromium_executable, tmp_path / "chromium-profile") as context:
        page = context.new_page()
        browser.login(page, airflow_stack.api_url, airflow_stack.username, airflow_stack.password)
        yield page


@pytest.fixture
def shoot(page: Page, capsys: pytest.CaptureFixture[str]) -> Callable[[str], Path]:
    """``shoot(name)``: save a screenshot as a test artifact and print its path."""

    def take(name: str) -> Path:
        path = browser.screenshot(page, name)
        with capsys.disabled():
            print(f"\n[screenshot] {path.relative_to(REPO)}")
        return path

    return take


@contextmanager
def screenshot_on_failure(shoot: Callable[[str], Path], name: str) -> Iterator[None]:
    """On an exception, save what the browser showed (``<name>-failure.png``) and re-raise."""
    try:
        yield
    except BaseException:
        try:
            shoot(f"{name}-failure")
        except Exception as exc:  # never hide the real failure
            print(f"could not take a failure screenshot: {exc}")
        raise


def field_group(scope: Locator, label: str) -> Locator:
    """The form field (label + control + help text) whose label reads ``label``."""
    label_re = re.compile(rf"^\s*{re.escape(label)}\s*\*?\s*$")
    return scope.locator('[data-scope="field"][data-part="root"]').filter(
        has=scope.page.locator('label[data-part="label"]').filter(has_text=label_re)
    )


def labels_in(scope: Locator) -> list[str]:
    texts = scope.locator('label[data-part="label"]').all_inner_texts()
    return [text.replace("*", "").strip() for text in texts]


# --------------------------------------------------------------------------- connection form


def test_connection_form_for_i2v(
    chromium_executable: str,
    airflow_stack: AirflowStack,
    page: Page,
    shoot: Callable[[str], Path],
) -> None:
    from playwright.sync_api import expect

    declared = get_provider_info()["connection-types"][0]["conn-fields"]
    descriptions = {spec["label"]: spec["description"] for spec in declared.values()}

    with screenshot_on_failure(shoot, "connection-form"):
        page.goto(f"{airflow_stack.api_url}/connections")
        page.get_by_role("button", name="Add Connection").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_role("heading", name="Add Connection")).to_be_visible()

        # The type is offered under the hook's name.
        dialog.get_by_role("combobox").fill("Image to Video")
        page.get_by_role("option", name=HOOK_NAME, exact=True).click()
        expect(dialog.get_by_text(HOOK_NAME, exact=True)).to_be_visible()

        # Standard fields: only what the gateway uses, relabelled.
        standard = dialog.locator('[id$=":content:standardFields"]')
        expect(standard.get_by_text("Gateway URL", exact=True)).to_be_visible()
        assert labels_in(standard) == ["Description", "Gateway URL", "API key"]
        host = field_group(standard, "Gateway URL").locator("input")
        expect(host).to_have_attribute("name", "host")
        expect(host).to_have_attribute("placeholder", DEFAULT_GATEWAY)
        expect(host).to_have_value("")
        api_key = field_group(standard, "API key").locator("input")
        expect(api_key).to_have_attribute("name", "password")
        expect(api_key).to_have_attribute("type", "password")
        expect(api_key).to_have_attribute("placeholder", "Vtrix API key (sent as a Bearer token)")
        for hidden in ("Login", "Port", "Schema", "Host", "Password"):
            expect(dialog.get_by_text(hidden, exact=True)).to_have_count(0)
        for name in ("login", "port", "schema", "url_schema"):
            expect(dialog.locator(f'[name="{name}"]')).to_have_count(0)
        shoot("connection-form-standard-fields")

        # Extra fields: typed, with their defaults and help texts.
        dialog.get_by_role("button", name="Extra Fields", exact=True).click()
        extra = dialog.locator('[id$=":content:Extra Fields"]')
        expect(extra.get_by_text("Request timeout (s)", exact=True)).to_be_visible()
        assert labels_in(extra) == list(EXTRA_FIELDS)
        for label, (control, default, minimum) in EXTRA_FIELDS.items():
            group = field_group(extra, label)
            expect(group).to_have_count(1)
            expect(group.get_by_text(descriptions[label], exact=True)).to_be_visible()
            if control == "number":
                spin = group.get_by_role("spinbutton")
                expect(spin).to_have_count(1)
                assert float(spin.input_value()) == float(default), label
                assert float(spin.get_attribute("aria-valuemin") or "nan") == minimum, label
            elif control == "switch":
                switch = group.locator('input[type="checkbox"]')
                expect(switch).to_have_count(1)
                assert switch.is_checked() is default, label
            else:
                text = group.locator('input[data-part="input"]')
                expect(text).to_have_count(1)
                expect(group.get_by_role("spinbutton")).to_have_count(0)
                expect(text).to_have_value(default)
        shoot("connection-form-extra-fields")

        # What the extra fields save: the JSON the form builds from their defaults.
        dialog.get_by_role("button", name="Extra Fields JSON").click()
        editor = dialog.locator(".monaco-editor .view-lines")
        expect(editor).to_contain_text('"timeout"')
        extra_json = json.loads(editor.inner_text().replace("\xa0", " "))
        assert extra_json == {
            "timeout": DEFAULT_TIMEOUT,
            "max_retries": DEFAULT_MAX_RETRIES,
            "backoff_initial": DEFAULT_BACKOFF_INITIAL,
            "backoff_max": DEFAULT_BACKOFF_MAX,
            "verify_ssl": True,
            "proxy": None,
            "allow_private_outputs": False,
        }
        shoot("connection-form-extra-json")

        # Nothing is saved: close the dialog.
        dialog.get_by_role("button", name="Close").click()
        expect(dialog).to_have_count(0)


# --------------------------------------------------------------------------- extra link


def test_finished_task_instance_links_to_the_video(
    chromium_executable: str,
    airflow_stack: AirflowStack,
    page: Page,
    shoot: Callable[[str], Path],
    write_dag: Callable[[str, str], Path],
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    i2v_connection: str,
) -> None:
    from playwright.sync_api import expect

    from airflow_provider_i2v.simulator import sample_url

    e2e_simulator.configure(generation_seconds=1)
    write_dag(DAG_ID, (REPO / "example_dags" / f"{DAG_ID}.py").read_text(encoding="utf-8"))
    api = airflow_stack.client
    api.wait_for_dag(DAG_ID, timeout=120)
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID, conf={"image_url": sample_url(e2e_simulator_server.url)})["dag_run_id"]
    run = api.wait_for_run(DAG_ID, run_id, timeout=240, interval=1.0)
    assert run["state"] == "success", api.describe_failures(DAG_ID, run_id)
    errors = airflow_stack.run_error_lines(DAG_ID, run_id)
    assert not errors, "\n".join(errors)

    ti_base = f"{airflow_stack.api_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/tasks/{TASK_ID}/mapped"
    for map_index in range(3):
        video_urls = api.xcom(DAG_ID, run_id, TASK_ID, "video_urls", map_index)
        expected = api.xcom(DAG_ID, run_id, TASK_ID, LINK_XCOM_KEY, map_index)
        assert expected == video_urls[0], (map_index, expected, video_urls)

        with screenshot_on_failure(shoot, f"task-instance-{map_index}"):
            if map_index == 0:
                # As a user gets there: the task instance page, then its Details tab.
                page.goto(f"{ti_base}/{map_index}")
                expect(page.get_by_role("heading", name=f"{TASK_ID} [{map_index}]")).to_be_visible()
                page.get_by_role("link", name="Details", exact=True).click()
                page.wait_for_url(f"**/mapped/{map_index}/details")
            else:
                page.goto(f"{ti_base}/{map_index}/details")
            expect(page.get_by_text("Extra Links", exact=True)).to_be_visible()
            link = page.get_by_role("link", name=LINK_NAME, exact=True)
            expect(link).to_be_visible()
            expect(link).to_have_attribute("href", expected)
            expect(link).to_have_attribute("target", "_blank")  # another origin: a new tab
            if map_index == 0:
                shoot("task-instance-generated-video-link")

        # The link really serves the video.
        response = httpx.get(expected, timeout=30)
        assert response.status_code == 200, (expected, response.status_code)
        assert response.headers["content-type"].startswith("video/mp4")
