"""``make demo KEEP=1``: the demo leaves Airflow up, says how to reach it, and stops
everything on Ctrl-C.

Runs ``dev/demo.py --keep`` as a person would (a subprocess with its own Airflow, SQLite),
reads the address and the login it prints, logs in with them, then sends SIGINT and checks
that the demo ends with the run's exit code and that its api-server is gone.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dev.airflow_stack import Mode, wait_until

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(420)


class Output:
    """The demo's stdout, read on a thread so that the pipe never fills."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._stream = proc.stdout
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def demo(airflow_mode: Mode, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output]]:
    if airflow_mode.name != "sqlite":
        pytest.skip("the demo runs on SQLite; this session runs " + airflow_mode.name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    command = [
        sys.executable,
        str(REPO / "dev" / "demo.py"),
        "--keep",
        "--generation-seconds=1",
        f"--work-dir={tmp_path / 'work'}",
        f"--output-dir={tmp_path / 'videos'}",
    ]
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield proc, Output(proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_keep_leaves_airflow_up_with_its_address_and_login_until_ctrl_c(
    demo: tuple[subprocess.Popen[str], Output],
) -> None:
    proc, output = demo

    def kept() -> bool | None:
        if proc.poll() is not None:
            raise AssertionError(f"the demo exited with {proc.returncode}:\n{output.text[-4000:]}")
        return True if "press Ctrl-C" in output.text else None

    wait_until(kept, timeout=360, interval=0.5, description="the demo to keep Airflow up")
    assert "DAG run succeeded" in output.text, output.text[-4000:]
    ui = re.search(r"Airflow UI\s+(http://127\.0\.0\.1:\d+)/", output.text)
    page = re.search(r"Video generations\s+(http://127\.0\.0\.1:\d+/plugin/video-generations)", output.text)
    login = re.search(r"login\s+(\S+) / (\S+) \(simple auth manager\)", output.text)
    assert ui, output.text[-2000:]
    assert page, output.text[-2000:]
    assert login, output.text[-2000:]
    assert page[1].startswith(ui[1])
    # The printed login works against the printed address.
    token = httpx.post(f"{ui[1]}/auth/token", json={"username": login[1], "password": login[2]}, timeout=30)
    assert token.status_code in (200, 201), token.text
    dags = httpx.get(
        f"{ui[1]}/api/v2/dags/i2v_product_videos",
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=30,
    )
    assert dags.status_code == 200, dags.text

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 0, output.text[-4000:]  # the run's outcome, not 130
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{ui[1]}/api/v2/monitor/health", timeout=5)  # everything it started is stopped
