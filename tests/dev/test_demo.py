"""``make demo KEEP=1``: after the run the demo says where Airflow is and how to log in,
waits for Ctrl-C, and then stops everything it started.

Airflow and the simulator are stand-ins here (the demo's real run is ``make demo``): what
is tested is the demo's own flow around them.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dev import demo


class FakeStack:
    api_url = "http://127.0.0.1:8793"
    username = "admin"
    password = "s3cret-for-this-run"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.home = Path(str(kwargs["home"]))
        self.timings = {"start": 1.0}
        self.events: list[str] = []
        FakeStack.made.append(self)

    made: list[FakeStack] = []

    def start(self) -> FakeStack:
        self.events.append("start")
        return self

    def stop(self) -> None:
        self.events.append("stop")


class FakeSimulator:
    url = "http://127.0.0.1:8794"
    made: list[FakeSimulator] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: list[str] = []
        FakeSimulator.made.append(self)

    def start(self) -> FakeSimulator:
        self.events.append("start")
        return self

    def stop(self) -> None:
        self.events.append("stop")


def ctrl_c_soon() -> threading.Timer:
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeStack.made.clear()
    FakeSimulator.made.clear()
    monkeypatch.setattr(demo, "AirflowStack", FakeStack)
    monkeypatch.setattr(demo, "SimulatorProcess", FakeSimulator)
    monkeypatch.setattr(demo, "run_demo", lambda *args: 0)


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> Iterator[None]:
    """main() installs its own SIGINT and SIGTERM handlers: put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_keep_prints_the_ui_the_generations_page_and_the_login_then_stops_on_ctrl_c(
    fakes: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    timer = ctrl_c_soon()
    rc = demo.main(["--keep", f"--work-dir={tmp_path}"])
    timer.join()
    out = capsys.readouterr().out
    assert rc == 0  # the run's outcome, not 130 for the Ctrl-C that ends a kept demo
    assert "Airflow UI         http://127.0.0.1:8793/" in out
    assert "Video generations  http://127.0.0.1:8793/plugin/video-generations" in out
    assert "login              admin / s3cret-for-this-run (simple auth manager)" in out
    [stack] = FakeStack.made
    [simulator] = FakeSimulator.made
    assert stack.events == ["start", "stop"]  # stopped after Ctrl-C ...
    assert simulator.events == ["start", "stop"]


def test_without_keep_it_stops_right_after_the_run(fakes: None, tmp_path: Path) -> None:
    assert demo.main([f"--work-dir={tmp_path}"]) == 0  # no Ctrl-C needed: it returns
    [stack] = FakeStack.made
    assert stack.events == ["start", "stop"]


def test_make_demo_keep_passes_keep() -> None:
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    dry = subprocess.run(
        ["make", "-n", "-C", str(repo), "demo", "KEEP=1"], capture_output=True, text=True, check=True
    )
    assert "dev/demo.py --keep" in dry.stdout
    dry = subprocess.run(["make", "-n", "-C", str(repo), "demo"], capture_output=True, text=True, check=True)
    assert "--keep" not in dry.stdout
