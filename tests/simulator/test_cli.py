"""The ``i2v-simulator`` command: starts, prints its URL once, serves, stops on a signal."""

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

from airflow_provider_i2v.protocol import CREATE_PATH, auth_header, poll_path
from airflow_provider_i2v.simulator.__main__ import build_parser, config_from_args, main
from airflow_provider_i2v.simulator.config import SETTINGS, SimConfig

from .helpers import create_body

REPO = Path(__file__).resolve().parents[2]
LINE = re.compile(r"i2v-simulator listening on (http://127\.0\.0\.1:\d+)")


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line, without ever blocking the test past ``timeout``."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not lines:
        process.kill()
        pytest.fail(f"no line within {timeout}s; stderr: {process.stderr.read() if process.stderr else ''}")
    return lines[0]


@pytest.fixture
def launch() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _start(processes: list[subprocess.Popen[str]], *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "airflow_provider_i2v.simulator", "--port", "0", *args]
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    processes.append(process)
    return process


@pytest.mark.timeout(60)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_cli_serves_and_stops_cleanly(launch: list[subprocess.Popen[str]], stop_signal: int) -> None:
    process = _start(
        launch,
        "--seed=5",
        "--generation-seconds=0",
        "--api-key=cli-key",
        "--fault=503=first:1@poll",
        "--completed-status=success",
        "--log-level=warning",
    )
    match = LINE.fullmatch(_read_line(process, 30).rstrip("\n"))
    assert match, "the first stdout line must announce the URL"
    url = match.group(1)
    with httpx.Client(base_url=url, headers=auth_header("cli-key"), timeout=5) as client:
        assert client.post(CREATE_PATH, json=create_body(), headers=auth_header("other")).status_code == 401
        generation_id = client.post(CREATE_PATH, json=create_body()).json()["id"]
        assert client.get(poll_path(generation_id)).status_code == 503
        assert client.get(poll_path(generation_id)).json()["status"] == "success"
        assert client.get("/_sim/stats").json()["seed"] == 5
    process.send_signal(stop_signal)
    stdout, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert stdout == ""  # exactly one line in all


def test_bad_flags_exit_with_a_usage_error(launch: list[subprocess.Popen[str]]) -> None:
    process = _start(launch, "--fault=meltdown=0.5")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "unknown fault kind" in stderr


def test_flags_map_to_config(tmp_path: Path) -> None:
    extra = tmp_path / "sim.json"
    extra.write_text('{"output_mode": "empty", "cost": 0.28, "generation_seconds": 9}')
    args = build_parser().parse_args(
        [
            f"--config=@{extra}",
            "--generation-seconds=2",
            "--fail-code=10006097",
            "--fail-rate=0.5",
            "--fault=429=0.1",
            "--fault=reset=first:1@create",
            "--api-key=a",
            "--api-key=b",
            "--public-url=https://sim.example",
            "--no-progress",
        ]
    )
    config = config_from_args(args)
    assert config.generation_seconds == 2  # flags win over --config
    assert config.output_mode == "empty"
    assert config.cost == 0.28
    assert config.fail_code == "010006097"
    assert config.fail_rate == 0.5
    assert [f.kind for f in config.faults] == ["http_429", "reset"]
    assert config.faults[1].first_n == 1
    assert config.faults[1].scope == "create"
    assert config.api_keys == ("a", "b")
    assert config.public_url == "https://sim.example"
    assert config.report_progress is False
    assert config_from_args(build_parser().parse_args([])) == type(config)()


def test_main_refuses_bad_values() -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--error-shape", "xml"])
    assert excinfo.value.code == 2
    with pytest.raises(SystemExit):
        main(["--fail-rate", "3"])


def test_every_knob_has_a_flag() -> None:
    parser = build_parser()
    flags = {flag for action in parser._actions for flag in action.option_strings}
    dests = {action.dest for action in parser._actions}
    for item in SETTINGS:
        assert item.flag in flags, item.name
        assert item.name in dests, item.name
    # The names the demo, the docs and older scripts use keep working.
    assert {"--api-key", "--fault", "--no-progress", "--generation-seconds", "--fail-code"} <= flags


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--render-time", "lognormal", "--generation-seconds-p95=12"], {"render_time": "lognormal"}),
        (["--generation-seconds-p95=12"], {"generation_seconds_p95": 12.0}),
        (["--progress-step=0.1", "--queue-fraction=0.2"], {"progress_step": 0.1, "queue_fraction": 0.2}),
        (["--queue-status=in_queue"], {"queue_status": "in_queue"}),
        (["--gzip-answers"], {"gzip_answers": True}),
        (["--no-huge-body-chunked"], {"huge_body_chunked": False}),
        (["--no-report-progress"], {"report_progress": False}),
        (["--retry-after=none"], {"retry_after": None}),
        (["--retry-after=2.5"], {"retry_after": 2.5}),
        (["--usage-extra", '{"quantity": 1}'], {"usage_extra": {"quantity": 1}}),
        (["--video-mode=rendered", "--video-width=320"], {"video_mode": "rendered", "video_width": 320}),
        (["--error-code-form=string", "--create-error-code=10006097"], {"create_error_code": "010006097"}),
        (["--cost="], {"cost": ""}),
        (["--unknown-status=booting", "--failed-status=FAILED"], {"unknown_status": "booting"}),
    ],
)
def test_new_knobs_as_flags(argv: list[str], expected: dict[str, object]) -> None:
    base = ["--render-time=lognormal"] if "--generation-seconds-p95=12" in argv else []
    config = config_from_args(build_parser().parse_args([*base, *argv]))
    for name, value in expected.items():
        assert getattr(config, name) == value


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--render-time=gaussian"], "invalid choice"),
        (["--video-width=abc"], "--video-width"),
        (["--usage-extra=[1]"], "not a JSON object"),
        (["--fault=meltdown"], "unknown fault kind"),
    ],
)
def test_bad_flag_values_say_what_is_wrong(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        build_parser().parse_args(argv)
    assert excinfo.value.code == 2
    assert words in capsys.readouterr().err


def test_help_says_what_it_serves_and_groups_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = build_parser().format_help()
    for served in ("POST /model/v1/generation", "GET  /model/v1/generation/task/{id}", "/files/{id}.mp4"):
        assert served in text
    assert "i2v-simulator --port 8765 --generation-seconds 5 --fault 429=0.1 --seed 1" in text
    for section in ("server:", "auth:", "timing and progress:", "failed generations:", "output files:"):
        assert f"\n{section}\n" in text
    assert "--fault KIND=RATE[@SCOPE]" in text
    assert "GENERATION_SECONDS" not in text  # short placeholders: one line per flag where it fits
    assert len(text.splitlines()) <= 140


def test_the_startup_summary_spells_values_as_the_flags_do() -> None:
    from airflow_provider_i2v.simulator.__main__ import startup_summary

    argv = ["--fault=429=0.1@poll", "--fault=reset=first:1@create", "--api-key=secret-cli-key"]
    config = config_from_args(
        build_parser().parse_args([*argv, "--render-time=lognormal", "--generation-seconds-p95=9"])
    )
    line = startup_summary(7, config)
    assert line.startswith("seed 7; ")
    assert "fault http_429=0.1@poll, fault reset=first:1@create" in line
    assert "render_time lognormal" in line
    assert "generation_seconds_p95 9.0" in line
    assert "api_keys: 1 accepted" in line
    assert "secret-cli-key" not in line
    assert "<" not in line  # no Python repr of an enum
    assert (
        startup_summary(1, SimConfig())
        == "seed 1; every knob at its default (GET /_sim/config lists every knob)"
    )


@pytest.mark.timeout(60)
def test_the_startup_log_names_the_faults(launch: list[subprocess.Popen[str]]) -> None:
    process = _start(launch, "--seed=3", "--fault=503=first:1@poll")
    assert LINE.fullmatch(_read_line(process, 30).rstrip("\n"))
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert "i2v-simulator: seed 3; fault http_503=first:1@poll" in stderr
    assert "FaultKind" not in stderr
