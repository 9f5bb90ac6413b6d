"""docs/simulator.md's curl session against ``i2v-simulator`` from the wheel, as the page says.

The page's commands use port 8765; the test starts the page's command with ``--port 0``
(a free loopback port) and runs the session with the page's ``http://127.0.0.1:8765``
replaced by the address the simulator announced: the only change to the text.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import DOCS, REPO, Installed, explain, run_bash
from .markdown import blocks, recipe

# The first test of a session also builds and installs (minutes with a cold uv cache).
pytestmark = [pytest.mark.recipes, pytest.mark.e2e, pytest.mark.timeout(1200)]

PAGE = DOCS / "simulator.md"
PAGE_URL = "http://127.0.0.1:8765"
LISTENING = re.compile(r"i2v-simulator listening on (http://127\.0\.0\.1:\d+)")


@pytest.fixture
def simulator(installed: Installed, tmp_path: Path) -> Iterator[str]:
    """The page's start command, on a free port; its URL. Stopped (SIGTERM) after the test."""
    [command] = [line for line in recipe(PAGE, "simulator/start").text.splitlines() if line.strip()]
    argv = shlex.split(command)
    assert argv[0] == "i2v-simulator"
    argv[argv.index("--port") + 1] = "0"
    process = subprocess.Popen(
        argv, cwd=tmp_path, env=installed.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    try:
        match = LISTENING.fullmatch(lines[0].strip()) if lines else None
        assert match, (
            f"no 'listening' line; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        )  # type: ignore[union-attr]
        yield match.group(1)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr[-3000:]


def test_the_curl_session_creates_polls_and_downloads(
    installed: Installed, simulator: str, tmp_path: Path
) -> None:
    session = recipe(PAGE, "simulator/curl").text
    assert PAGE_URL in session
    result = run_bash(session.replace(PAGE_URL, simulator), tmp_path, installed.env(), timeout=120)
    assert result.returncode == 0, explain(result)
    created = json.loads((tmp_path / "create.json").read_text())
    done = json.loads((tmp_path / "done.json").read_text())
    assert created["status"] == "in_progress"
    assert done["status"] == "completed"
    assert done["id"] == created["id"]
    assert (tmp_path / "video.mp4").stat().st_size == 262144  # the page says so
    stats = httpx.get(f"{simulator}/_sim/stats", timeout=10).json()
    assert (stats["creates_accepted"], stats["file_downloads"]) == (1, 1)
    assert stats["statuses"] == {"200": stats["requests"]}  # no refusal on the way: the body is right


def test_the_control_plane_commands_work(installed: Installed, simulator: str, tmp_path: Path) -> None:
    commands = recipe(PAGE, "simulator/control").text
    result = run_bash(commands.replace(PAGE_URL, simulator), tmp_path, installed.env(), timeout=60)
    assert result.returncode == 0, explain(result)
    config = httpx.get(f"{simulator}/_sim/config", timeout=10).json()
    assert config["faults"] == [{"kind": "http_503", "rate": 0.5, "scope": "poll", "first_n": None}]
    assert config["retry_after"] == 2


def test_every_documented_command_line_is_accepted(installed: Installed, tmp_path: Path) -> None:
    """Each ``i2v-simulator ...`` line of the docs and the README, read by the installed CLI."""
    lines = {
        line.split("#")[0].strip()
        for page in [*DOCS.glob("*.md"), REPO / "README.md"]
        for block in blocks(page)
        if block.lang == "bash"
        for line in block.text.splitlines()
        if line.startswith("i2v-simulator ")
    }
    assert len(lines) >= 5
    probe = (
        "import json, sys\n"
        "from airflow_provider_i2v.simulator.__main__ import build_parser, config_from_args\n"
        "for argv in json.load(sys.stdin):\n"
        "    try:\n"
        "        config_from_args(build_parser().parse_args(argv))\n"
        "        print('ok')\n"
        "    except ValueError as exc:\n"
        "        print(exc)\n"
    )
    argvs = [shlex.split(line)[1:] for line in sorted(lines)]
    result = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", probe],
        input=json.dumps(argvs),
        cwd=tmp_path,
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, explain(result)
    for line, answer in zip(sorted(lines), result.stdout.splitlines(), strict=True):
        if "--video-mode rendered" in line:  # the page says it needs the video extra; the wheel has none
            assert "video extra" in answer, line
        else:
            assert answer == "ok", f"{line}: {answer}"
