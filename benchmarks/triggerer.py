"""The trigger on a real ``airflow triggerer``, beside bare clients and Airflow's own floor.

One Airflow (api-server and triggerer only: SQLite, the DAG of :mod:`benchmarks.seed`)
and one simulator, each in its own process. A *phase* puts N deferred task instances on
the triggerer, each with its own trigger, waits until they all run, then measures over a
window, from /proc:

* the trigger-runner process's CPU (the triggerer forks it; every trigger runs on its
  event loop) and the supervisor's (the ``airflow triggerer`` process: database work,
  log lines, connection look-ups for the runner);
* the runner's RSS before the phase and while the N triggers are live;
* polls answered by the simulator in the window (its own counter);
* "Triggerer's async thread was blocked" lines the triggerer logged during the phase.

Kinds of phase: ``provider`` (:class:`~airflow_provider_i2v.triggers.i2v.I2VTaskTrigger`
polling simulator generations), ``noop`` (:class:`benchmarks.noop.SleepTrigger`, waking at
the same rate: Airflow's floor), and the bare pollers of :mod:`benchmarks.bare` (no
Airflow at all), run in a process of their own against the same simulator.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks import procstat

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key"
MODEL = "minimax_i2v_01_live"
BLOCKED = "async thread was blocked"
NEVER = 10_000_000.0  # a render time no phase outlives
PROVIDER_TRIGGER = "airflow_provider_i2v.triggers.i2v.I2VTaskTrigger"
NOOP_TRIGGER = "benchmarks.noop.SleepTrigger"
PROBE_TRIGGER = "benchmarks.noop.ProbeTrigger"
_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z?")


def _blocked(log_text: str, until: float) -> list[tuple[float, float]]:
    """(when, seconds) of each "async thread was blocked" line logged before ``until`` (epoch)."""
    found = []
    for line in log_text.splitlines():
        if BLOCKED not in line:
            continue
        stamp = _LOG_TIME.match(line)
        at = 0.0
        if stamp:
            at = datetime.datetime.fromisoformat(stamp[1]).replace(tzinfo=datetime.UTC).timestamp()
            if at > until:
                continue
        match = re.search(BLOCKED + r" for ([0-9.]+) seconds", line)
        if match:
            found.append((at, float(match[1])))
    return found


@dataclass
class Phase:
    """What one phase measured."""

    kind: str
    n: int
    interval: float
    window: float
    polls: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    rss_before: int = 0
    rss_live: int = 0
    #: "async thread was blocked" warnings (seconds each): while the triggers started, and
    #: in the measured window once they all ran.
    blocked_startup: list[float] = field(default_factory=list)
    blocked_window: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    completions: int = 0
    probe: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def wakes(self) -> float:
        """Polls, or for a no-op phase the wakes it must have had (N x window / interval)."""
        if self.kind in ("noop", "bare-sleep"):
            return self.n * self.window / self.interval
        return float(self.polls)

    def per_poll_ms(self, process: str) -> float:
        return 1000.0 * self.cpu.get(process, 0.0) / max(1.0, self.wakes)

    @property
    def rss_per_trigger(self) -> float:
        return (self.rss_live - self.rss_before) / max(1, self.n)


class Simulator:
    """The gateway simulator in its own process, and what the benchmark asks of it."""

    def __init__(self, work: Path) -> None:
        from dev.demo import SimulatorProcess

        self.process = SimulatorProcess(
            work / "simulator.log",
            generation_seconds=NEVER,
            extra_args=["--log-level", "warning", "--record-limit", "1000000", "--seed", "1"],
        )
        self.url = ""
        self._client: httpx.Client | None = None

    def start(self) -> Simulator:
        self.url = self.process.start().url
        self._client = httpx.Client(
            base_url=self.url, timeout=60.0, headers={"Authorization": f"Bearer {KEY}"}
        )
        return self

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        self.process.stop()

    @property
    def client(self) -> httpx.Client:
        assert self._client is not None
        return self._client

    def pid(self) -> int | None:
        proc = self.process._proc
        return proc.pid if proc is not None else None

    def create(self, count: int, render_seconds: float) -> list[str]:
        """``count`` generations that take ``render_seconds`` each."""
        from airflow_provider_i2v.protocol import CREATE_PATH, GenerationRequest

        self.client.post("/_sim/config", json={"render_time": "fixed", "generation_seconds": render_seconds})
        body = GenerationRequest(first_frame_image="https://images.example.com/p.jpg").to_body()
        return [self.client.post(CREATE_PATH, json=body).json()["id"] for _ in range(count)]

    def polls(self) -> int:
        return int(self.client.get("/_sim/stats").json()["polls"])

    def last_seq(self) -> int:
        records = self.client.get("/_sim/requests", params={"since": 10**12}).json()["requests"]
        return int(records[-1]["seq"]) if records else int(self.client.get("/_sim/stats").json()["requests"])

    def detection_latencies(self, ids: set[str], since: int) -> tuple[int, list[float]]:
        """(completed generations among ``ids``, seconds from each completion to its last poll)."""
        generations = {g["id"]: g for g in self.client.get("/_sim/generations").json()["generations"]}
        last_poll: dict[str, float] = {}
        for record in self.client.get("/_sim/requests", params={"since": since}).json()["requests"]:
            if record["endpoint"] == "poll" and record["generation_id"] in ids and record["status"] == 200:
                last_poll[record["generation_id"]] = float(record["at"])
        latencies = []
        for generation_id in ids:
            g = generations[generation_id]
            if g["state"] != "completed":
                continue
            done_at = float(g["created_at"]) + float(g["duration"])
            latencies.append(last_poll.get(generation_id, float("inf")) - done_at)
        return len(latencies), latencies


class Triggerer:
    """A real Airflow with a triggerer (and the api-server it needs), for trigger phases."""

    def __init__(
        self, work: Path, simulator: Simulator, capacity: int = 1010, env: dict[str, str] | None = None
    ) -> None:
        self.extra_env = dict(env or {})
        self.work = work
        self.simulator = simulator
        self.capacity = capacity
        self.stack: Any = None
        self.runner_pid = 0
        self.supervisor_pid = 0

    def start(self) -> Triggerer:
        from dev.airflow_stack import AirflowStack

        self.stack = AirflowStack(
            REPO / "benchmarks" / "dags",
            home=self.work / "airflow",
            components=("api-server", "triggerer"),
            parallelism=2,
            pythonpath=[REPO],
            env={
                "AIRFLOW__TRIGGERER__CAPACITY": str(self.capacity),
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "5",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # The recorded figures were measured with the trigger runner's start-up heap
                # frozen (docs/deploying.md: opt-in); set False to measure without it.
                "AIRFLOW__I2V__FREEZE_TRIGGER_HEAP": "True",
                **self.extra_env,
            },
        )
        self.stack.start()
        self.stack.cli("dags", "reserialize")
        connection = {"conn_type": "i2v", "host": self.simulator.url, "password": KEY}
        # In the metadata database, as most deployments keep it: the runner asks its
        # supervisor for it (a round trip), as it would in production.
        self.stack.cli("connections", "add", "i2v_default", "--conn-json", json.dumps(connection))
        self._find_processes()
        return self

    def restart(self) -> None:
        """A fresh triggerer (a fresh runner process: an idle triggerer's memory)."""
        self.stack.restart_component("triggerer")
        self._find_processes()

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()

    def _find_processes(self) -> None:
        """The supervisor is the ``airflow triggerer`` process; the runner is its forked child
        that runs the event loop (the one with the trigger-runner's threads)."""
        self.supervisor_pid = int(self.stack.pid("triggerer"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            kids = [pid for pid in procstat.children(self.supervisor_pid) if _is_runner(pid)]
            if kids:
                self.runner_pid = kids[0]
                return
            time.sleep(0.5)
        raise RuntimeError("the triggerer's runner process did not appear")

    # ---------------------------------------------------------------- phases

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.stack.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)

    def _count(self, sql: str) -> int:
        with contextlib.closing(self._db()) as db:
            return int(db.execute(sql).fetchone()[0])

    def seed(self, triggers: list[dict[str, Any]]) -> None:
        """Deferred task instances on these triggers (``{"classpath", "kwargs"}`` each)."""
        kwargs_file = self.work / f"seed-{uuid.uuid4().hex[:8]}.json"
        kwargs_file.write_text(json.dumps(triggers))
        subprocess.run(
            [sys.executable, "-m", "benchmarks.seed", f"bench_{uuid.uuid4().hex[:12]}", str(kwargs_file)],
            env=self.stack.env,
            cwd=str(REPO),
            check=True,
            capture_output=True,
            timeout=600,
        )
        kwargs_file.unlink()

    def _wait_assigned(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._count("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL") < n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the triggerer did not take {n} triggers within {timeout:.0f} s")
            time.sleep(0.5)

    def _wait_drained(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._count("SELECT count(*) FROM trigger") > 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the phase's triggers did not finish")
            time.sleep(1.0)

    def run_phase(
        self,
        kind: str,
        n: int,
        interval: float,
        window: float,
        *,
        warmup: float = 5.0,
        completing: float = 0.0,
        py_spy: Path | None = None,
        py_spy_ramp: Path | None = None,
        probe: bool = True,
    ) -> Phase:
        """N triggers of ``kind`` polling (waking) every ``interval`` s, measured over ``window`` s.

        ``completing``: the share of the generations (provider phases) that complete during
        the window, at spread times, so that detection latency is measured too.
        """
        phase = Phase(kind, n, interval, window)
        # The triggerer takes 50 triggers per loop (about a second each, more when busy); each
        # polls within an interval of starting. The deadline (every trigger fires then) is set
        # after the window, with a margin in case starting them took longer than this.
        ramp = n / 30 + interval + 10
        started = time.time()
        deadline = started + ramp + warmup + window + interval + 10
        ids: list[str] = []
        done_ids: set[str] = set()
        if kind == "provider":
            completing_n = int(n * completing)
            groups = 10
            for g in range(groups):
                # Render times spread over the second half of the window.
                render = ramp + warmup + window * (0.5 + 0.45 * g / groups)
                part = completing_n // groups + (1 if g < completing_n % groups else 0)
                created = self.simulator.create(part, render)
                done_ids.update(created)
                ids += created
            ids += self.simulator.create(n - len(ids), NEVER)
            now = time.time()
            all_kwargs = [
                {
                    "generation_id": generation_id,
                    "i2v_conn_id": "i2v_default",
                    "poll_interval": interval,
                    "max_poll_interval": interval,
                    "adaptive": False,
                    "model": MODEL,
                    "deadline": deadline,
                    "started_at": now,
                }
                for generation_id in ids
            ]
            triggers = [{"classpath": PROVIDER_TRIGGER, "kwargs": kwargs} for kwargs in all_kwargs]
        else:
            noop = {"interval": interval, "deadline": deadline}
            triggers = [{"classpath": NOOP_TRIGGER, "kwargs": noop}] * n
        report = self.work / f"probe-{uuid.uuid4().hex[:8]}.json"
        if probe:
            # Watches the loop from inside the runner until the window ends.
            window_end = deadline - interval - 5
            watch = {"deadline": window_end, "report": str(report)}
            triggers.insert(0, {"classpath": PROBE_TRIGGER, "kwargs": watch})  # the first to start
        log = self.stack.log_path("triggerer")
        log_offset = log.stat().st_size
        phase.rss_before = procstat.rss_bytes(self.runner_pid)
        first_seq = self.simulator.last_seq()
        self.seed(triggers)
        ramp_spy = _start_py_spy(self.runner_pid, ramp, py_spy_ramp) if py_spy_ramp else None
        self._wait_assigned(len(triggers), timeout=ramp + 120)
        time.sleep(interval + 2 + warmup)  # every trigger has started and settled
        if time.time() + window > deadline - 2:
            raise RuntimeError(f"{n} triggers took too long to start: the window would reach their deadline")
        window_cpu = procstat.CpuWindow(
            {"runner": self.runner_pid, "supervisor": self.supervisor_pid}
            | ({"simulator": pid} if (pid := self.simulator.pid()) else {})
        )
        polls_before = self.simulator.polls()
        phase.rss_live = procstat.rss_bytes(self.runner_pid)
        spy = _start_py_spy(self.runner_pid, window, py_spy) if py_spy else None
        window_start = time.time()
        window_cpu.start()
        time.sleep(window)
        phase.cpu = window_cpu.stop()
        window_stop = time.time()
        phase.polls = self.simulator.polls() - polls_before
        phase.rss_live = max(phase.rss_live, procstat.rss_bytes(self.runner_pid))
        for running in (spy, ramp_spy):
            if running is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    running.wait(timeout=window + ramp + 60)
        # Let the phase end: every trigger fires at its deadline and is cleaned up.
        time.sleep(max(0.0, deadline - time.time()))
        self._wait_drained(timeout=120 + n / 20)
        text = log.read_bytes()[log_offset:].decode(errors="replace")
        for at, seconds in _blocked(text, until=window_stop):
            (phase.blocked_window if at >= window_start else phase.blocked_startup).append(seconds)
        if report.exists():
            phase.probe = json.loads(report.read_text())
        if done_ids:
            phase.completions, phase.latencies = self.simulator.detection_latencies(done_ids, first_seq)
        return phase


def _is_runner(pid: int) -> bool:
    """The trigger runner is a fork of ``airflow triggerer`` (same command line); the log
    server is not a fork of it."""
    with contextlib.suppress(OSError):
        return "triggerer" in procstat.cmdline(pid) and len(os.listdir(f"/proc/{pid}/task")) >= 1
    return False


def _start_py_spy(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    exe = Path(sys.executable).parent / "py-spy"
    if not exe.exists():
        return None
    return subprocess.Popen(
        [
            str(exe),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "100",
            "--format",
            "speedscope" if output.suffix == ".json" else "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_bare(
    simulator: Simulator,
    work: Path,
    variant: str,
    n: int,
    interval: float,
    window: float,
    warmup: float = 3.0,
) -> Phase:
    """N bare pollers (:mod:`benchmarks.bare`) in their own process, measured over ``window``."""
    phase = Phase(f"bare-{variant}", n, interval, window)
    ids = simulator.create(n, NEVER)
    ids_file = work / f"bare-{uuid.uuid4().hex[:8]}.json"
    ids_file.write_text(json.dumps(ids))
    total = interval * 2 + warmup + window + 30
    connection = {"conn_type": "i2v", "host": simulator.url, "password": KEY}
    env = dict(os.environ, PYTHONPATH=str(REPO), AIRFLOW_CONN_I2V_DEFAULT=json.dumps(connection))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.bare",
            variant,
            simulator.url,
            str(ids_file),
            str(interval),
            str(total),
        ],
        stdout=subprocess.PIPE,
        env=env,
        cwd=str(REPO),
    )
    try:
        assert proc.stdout is not None
        lines = []
        while (line := proc.stdout.readline()) and line.strip() != b"ready":
            lines.append(line)  # stand-in triggers log on stdout
        if not line:
            raise RuntimeError(f"bare {variant} pollers did not start: {b''.join(lines[-20:])!r}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
        time.sleep(warmup)
        cpu = procstat.CpuWindow({"runner": proc.pid})
        before = simulator.polls()
        phase.rss_before = procstat.rss_bytes(proc.pid)
        cpu.start()
        time.sleep(window)
        phase.cpu = cpu.stop()
        phase.polls = simulator.polls() - before
        phase.rss_live = phase.rss_before
    finally:
        proc.kill()
        proc.wait(timeout=30)
        ids_file.unlink()
    return phase
