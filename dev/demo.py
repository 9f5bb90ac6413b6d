"""End-to-end demo: the example DAG on a real local Airflow against the gateway simulator.

Run from the repository root (``make demo`` does it in the project's ``.venv``)::

    python dev/demo.py [--generation-seconds 8] [--timeout 480]

It starts the simulator (``python -m airflow_provider_i2v.simulator``) and a real Airflow
(api-server, scheduler, dag-processor, triggerer; SQLite, LocalExecutor) whose
``i2v_default`` connection points at the simulator, triggers ``i2v_product_videos``,
shows task states while the videos render, then prints every video URL, the total cost and
the simulator's request counts. Everything it started is stopped on exit, Ctrl-C included.
Airflow's home (component and task logs) stays in ``.demo/airflow`` for inspection.

With ``--keep`` (``make demo KEEP=1``) Airflow and the simulator stay up after the run,
whatever its outcome: it prints the UI's address, the provider's "Video generations" page
and the login, and stops everything when you press Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from airflow_provider_i2v.simulator.samples import sample_url  # noqa: E402
from dev.airflow_stack import (  # noqa: E402
    AirflowClient,
    AirflowStack,
    ApiError,
    StackError,
    WaitTimeout,
)

DAG_ID = "i2v_product_videos"
#: The provider's plugin page listing generations (under the api-server's /plugin/ prefix).
GENERATIONS_PAGE = "/plugin/video-generations"
READY_PREFIX = "i2v-simulator listening on "


def say(message: str = "") -> None:
    print(message, flush=True)


class SimulatorProcess:
    """``python -m airflow_provider_i2v.simulator --port 0`` as a child process."""

    def __init__(
        self,
        log_path: Path,
        *,
        generation_seconds: float,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
    ) -> None:
        self.log_path = log_path
        self.generation_seconds = generation_seconds
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> SimulatorProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        command = [
            sys.executable,
            "-m",
            "airflow_provider_i2v.simulator",
            "--port",
            "0",
            "--generation-seconds",
            str(self.generation_seconds),
            *self.extra_args,
        ]
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            command,
            env=env,
            cwd=str(REPO_ROOT),
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self._proc.stdout is not None
        line = self._read_line(self._proc.stdout)
        if not line.startswith(READY_PREFIX):
            self.stop()
            raise RuntimeError(
                f"the simulator did not start (first line {line!r}); log {self.log_path}:\n"
                + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
            )
        self.url = line[len(READY_PREFIX) :].strip()
        # Keep draining stdout so the simulator can never block on a full pipe.
        threading.Thread(target=self._drain, args=(self._proc.stdout,), daemon=True).start()
        return self

    def _read_line(self, stream: IO[bytes]) -> str:
        selector = selectors.DefaultSelector()
        selector.register(stream, selectors.EVENT_READ)
        deadline = time.monotonic() + self.start_timeout
        buffer = b""
        try:
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(timeout=remaining):
                    return buffer.decode(errors="replace") or "<nothing within the start timeout>"
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    return buffer.decode(errors="replace") or "<the simulator exited>"
                buffer += chunk
        finally:
            selector.close()
        first, _, rest = buffer.partition(b"\n")
        if rest and self._log is not None:
            self._log.write(rest)
        return first.decode(errors="replace")

    def _drain(self, stream: IO[bytes]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: os.read(stream.fileno(), 4096), b""):
                if self._log is not None:
                    self._log.write(chunk)

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_sim/stats", timeout=10.0)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.flush()


class Progress:
    """Prints a one-line summary of task states whenever it changes."""

    def __init__(self, client: AirflowClient, dag_id: str, run_id: str, started: float) -> None:
        self.client = client
        self.dag_id = dag_id
        self.run_id = run_id
        self.started = started
        self.last = ""
        self.next_poll = 0.0

    def __call__(self, run: dict[str, Any]) -> None:
        now = time.monotonic()
        if now < self.next_poll and run.get("state") not in ("success", "failed"):
            return
        self.next_poll = now + 2.0
        try:
            tis = self.client.task_instances(self.dag_id, self.run_id)
        except (ApiError, httpx.HTTPError):
            return
        by_task: dict[str, Counter[str]] = {}
        for ti in tis:
            by_task.setdefault(str(ti["task_id"]), Counter())[str(ti.get("state") or "none")] += 1
        parts = []
        for task_id, states in by_task.items():
            if sum(states.values()) == 1:
                parts.append(f"{task_id}: {next(iter(states))}")
            else:
                parts.append(f"{task_id}: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))
        line = " | ".join(parts)
        if line != self.last:
            self.last = line
            say(f"  [{now - self.started:5.1f}s] {line}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dag-id", default=DAG_ID)
    parser.add_argument("--dags-folder", default=str(REPO_ROOT / "example_dags"))
    parser.add_argument("--generation-seconds", type=float, default=8.0, help="simulated render time")
    parser.add_argument("--timeout", type=float, default=480.0, help="bound for the DAG run, in seconds")
    parser.add_argument(
        "--simulator-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra simulator flag (repeatable), e.g. --simulator-arg=--fail-rate=0.3",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave Airflow and the simulator running after the run, until Ctrl-C",
    )
    parser.add_argument("--work-dir", default=str(REPO_ROOT / ".demo"), help="logs and Airflow's home")
    parser.add_argument(
        "--output-dir",
        default=str(REPO_ROOT / "demo-output"),
        help="where the videos are kept, one folder per run (default: ./demo-output)",
    )
    return parser.parse_args(argv)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    wall_start = time.monotonic()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # clean up on SIGTERM too
    work_dir = Path(args.work_dir).resolve()
    home = work_dir / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    work_dir.mkdir(parents=True, exist_ok=True)

    try:
        from importlib.metadata import version

        airflow_version = version("apache-airflow")
    except Exception:
        airflow_version = "?"
    say(f"i2v demo: DAG {args.dag_id!r} on a real Airflow {airflow_version} against the local simulator")
    say(f"  python {sys.executable}")
    say(f"  logs   {home / 'component-logs'} (Airflow), {work_dir / 'simulator.log'} (simulator)")
    say()

    simulator = SimulatorProcess(
        work_dir / "simulator.log",
        generation_seconds=args.generation_seconds,
        extra_args=[*video_args(), *args.simulator_arg],
    )
    stack: AirflowStack | None = None
    try:
        simulator.start()
        say(f"simulator   {simulator.url} (generation takes {args.generation_seconds:g} s)")
        # allow_private_outputs: the simulator serves its videos on loopback.
        connection = {
            "conn_type": "i2v",
            "host": simulator.url,
            "password": "demo-key",
            "extra": {"allow_private_outputs": True},
        }
        stack = AirflowStack(
            args.dags_folder,
            home=home,
            env={"AIRFLOW_CONN_I2V_DEFAULT": json.dumps(connection)},
            pythonpath=[REPO_ROOT],
        )
        say("airflow     starting api-server, scheduler, dag-processor, triggerer ...")
        stack.start()
        up = stack.timings["start"]
        passwords = stack.home / "simple_auth_manager_passwords.json"
        say(f"airflow     {stack.api_url} up in {up:.1f} s (login {stack.username}, password in {passwords})")
        rc = run_demo(args, stack, simulator, wall_start)
        if args.keep:
            keep_running(stack, simulator)
        return rc
    except KeyboardInterrupt:
        say("\ninterrupted: stopping everything")
        return 130
    except (StackError, ApiError, RuntimeError, httpx.HTTPError) as exc:
        say(f"\nFAILED: {exc}")
        return 1
    finally:
        if stack is not None:
            stack.stop()
        simulator.stop()


def run_demo(
    args: argparse.Namespace, stack: AirflowStack, simulator: SimulatorProcess, wall_start: float
) -> int:
    """Trigger the DAG, show its progress and its results; 0 if the run succeeded."""
    home = stack.home
    client = stack.client
    client.wait_for_dag(args.dag_id, timeout=120)
    client.unpause(args.dag_id)
    output_root = Path(args.output_dir).resolve()
    # The URL item is checked before paying: one of the simulator's sample images.
    conf = {"output_dir": str(output_root), "image_url": sample_url(simulator.url)}
    run = client.trigger(args.dag_id, conf=conf)
    run_id = str(run["dag_run_id"])
    say(f"dag run     {run_id}")
    run_start = time.monotonic()
    try:
        final = client.wait_for_run(
            args.dag_id,
            run_id,
            timeout=args.timeout,
            interval=1.0,
            on_poll=Progress(client, args.dag_id, run_id, run_start),
        )
    except WaitTimeout as exc:
        say(f"\nFAILED: {exc}")
        say(client.describe_failures(args.dag_id, run_id))
        return 1
    run_seconds = time.monotonic() - run_start
    if final.get("state") != "success":
        say(f"\nFAILED: DAG run {run_id} ended {final.get('state')!r} after {run_seconds:.1f} s")
        states = client.task_states(args.dag_id, run_id)
        failed = [label for label, state in states.items() if state == "failed"]
        say(f"failed tasks: {', '.join(failed) or 'none'}\n")
        say(client.describe_failures(args.dag_id, run_id))
        say(f"(Airflow logs kept in {home})")
        return 1
    print_summary(client, simulator, args.dag_id, run_id, run_seconds, stack, wall_start)
    show_kept_videos(output_root / run_id.replace(":", "_"))
    return 0


def keep_running(stack: AirflowStack, simulator: SimulatorProcess) -> None:
    """Say where Airflow is and how to log in, then wait for Ctrl-C (or SIGTERM)."""
    say("")
    say("Airflow stays up (--keep); press Ctrl-C to stop it and the simulator.")
    say(f"  Airflow UI         {stack.api_url}/")
    say(f"  Video generations  {stack.api_url}{GENERATIONS_PAGE}")
    say(f"  login              {stack.username} / {stack.password} (simple auth manager)")
    say(f"  simulator          {simulator.url}")
    try:
        while True:
            signal.pause()  # SIGINT and SIGTERM raise KeyboardInterrupt (main() set that up)
    except KeyboardInterrupt:
        say("\nstopping Airflow and the simulator")


def video_args() -> list[str]:
    """Real, playable videos from the first frames when PyAV (the ``video`` extra) is here."""
    import importlib.util

    return ["--video-mode", "rendered"] if importlib.util.find_spec("av") is not None else []


def show_kept_videos(folder: Path) -> None:
    """Where the run kept its videos (the simulator's links die with it), and a contact sheet."""
    videos = sorted(folder.glob("*.mp4"))
    say(f"\nVideos kept in {folder} (the gateway's links are temporary; these files are not)")
    if not videos:
        return
    try:
        from dev.contact_sheet import contact_sheet

        sheet = contact_sheet(videos, folder / "contact-sheet.png")
    except (ImportError, ValueError) as exc:  # synthetic bytes (no PyAV) are not decodable video
        say(f"  (no contact sheet: {exc})")
        return
    say(f"Contact sheet (first, middle and last frame of each video): {sheet}")


def print_summary(
    client: AirflowClient,
    simulator: SimulatorProcess,
    dag_id: str,
    run_id: str,
    run_seconds: float,
    stack: AirflowStack,
    wall_start: float,
) -> None:
    say(f"\nDAG run succeeded in {run_seconds:.1f} s\n")
    generated = client.task_instances(dag_id, run_id, task_id="generate")
    say(f"Videos ({len(generated)} generations):")
    cost_sum = Decimal("0")
    seen_urls: list[str] = []
    for ti in generated:
        map_index = int(ti.get("map_index", -1))
        result = client.xcom(dag_id, run_id, "generate", map_index=map_index)
        usage = result.get("usage") or {}
        with contextlib.suppress(InvalidOperation, TypeError):
            cost_sum += Decimal(str(usage.get("cost") or "0"))
        label = f"generate[{map_index}]" if map_index >= 0 else "generate"
        say(
            f"  {label:12} {result.get('generation_id')}  {result.get('model')}  "
            f"{result.get('status')}  cost {usage.get('cost')}"
        )
        seen_urls.extend(result.get("video_urls") or [])
        for file in result.get("files") or []:
            say(f"               {file['uri'].removeprefix('file://')}")
            say(f"               {file['size']} bytes, sha256 {file['sha256']}")
    report = client.xcom(dag_id, run_id, "report")
    report_urls = list(report.get("video_urls") or [])
    say("")
    same = sorted(report_urls) == sorted(seen_urls)
    say(
        f"Report: {report.get('videos')} videos, total cost {report.get('total_cost')} USD"
        + (" (the generations above)" if same else "")
    )
    if not same:
        for url in report_urls:
            say(f"  {url}")
    if str(report.get("total_cost")) != str(cost_sum):
        say(f"  (sum of the generate results: {cost_sum})")
    try:
        stats = simulator.stats()
        counts = ", ".join(f"{k}={v}" for k, v in stats.items() if isinstance(v, int) and k != "seed")
        say(f"Simulator: {counts}")
        if stats.get("statuses"):
            say(f"  answers by HTTP status: {stats['statuses']}")
    except (httpx.HTTPError, ValueError) as exc:
        say(f"Simulator stats unavailable: {exc}")
    wall = time.monotonic() - wall_start
    up = stack.timings.get("start", 0.0)
    say(f"Wall time: {wall:.1f} s (Airflow start {up:.1f} s, run {run_seconds:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
