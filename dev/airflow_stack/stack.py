"""A real Airflow 3.3 on this machine, in one of three deployment modes, for tests and demos.

Airflow's components run separately, as in production (not ``airflow standalone``), so a
test can kill or restart one of them (a triggerer, the scheduler) alone, and grep its log.
Each has its own log file, ``component-logs/<name>.log`` in the stack's home. The mode
(:mod:`.modes`) decides the database, the executor and how many triggerers run; the
servers a mode needs (:mod:`.services`) are started first and stopped last. Every wait
is bounded, and ``stop()`` leaves no process of the stack behind (:mod:`.processes`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .client import AirflowClient
from .commands import component_command, migrate, run_cli
from .logs import console_error_lines, tail
from .modes import Mode, resolve_mode
from .processes import StackError, Supervisor, free_ports
from .readiness import Readiness
from .services import PostgresServer, RedisServer, backends_for, start_services
from .settings import Ports, component_environment, stack_environment


class AirflowStack:
    """Airflow's components (and the servers their mode needs) on a temporary home.

    :param dags_folder: the DAG folder the dag-processor scans.
    :param mode: ``"sqlite"`` (default), ``"postgres"``, ``"celery"`` or a :class:`.modes.Mode`.
    :param env: extra environment for every component and CLI call, applied last
        (``AIRFLOW__SECTION__KEY`` entries override the stack's settings).
    :param home: the ``AIRFLOW_HOME`` (created if missing, never deleted). Default: a new
        temporary directory, deleted by ``stop()`` unless ``keep_home`` or
        ``AIRFLOW_STACK_KEEP_HOME=1``; a failed start always keeps it, for its logs.
    :param parallelism: task slots (LocalExecutor processes or Celery worker concurrency).
    :param pythonpath: directories prepended to every component's ``PYTHONPATH``.
    :param inherit_airflow_env: keep the caller's ``AIRFLOW_*`` variables (default: drop them).
    :param components: run only these of the mode's components (the api-server is needed:
        workers and the REST client talk to it); default all of them.
    :param setup_cli: ``airflow`` commands (argument lists) run once the database is
        migrated, before any component starts: what a component needs to find at its start
        (multi-team mode's teams, ``("teams", "create", "team_a")``).
    """

    def __init__(
        self,
        dags_folder: str | os.PathLike[str],
        *,
        mode: str | Mode = "sqlite",
        env: Mapping[str, str] | None = None,
        home: str | os.PathLike[str] | None = None,
        parallelism: int = 4,
        pythonpath: Sequence[str | os.PathLike[str]] = (),
        start_timeout: float = 180.0,
        migrate_timeout: float = 240.0,
        stop_grace: float = 15.0,
        keep_home: bool = False,
        inherit_airflow_env: bool = False,
        components: Sequence[str] | None = None,
        setup_cli: Sequence[Sequence[str]] = (),
    ) -> None:
        self.mode = mode if isinstance(mode, Mode) else resolve_mode(mode)
        if components is not None and (
            set(components) - set(self.mode.components) or "api-server" not in components
        ):
            raise ValueError(f"components: a subset of {self.mode.components} with the api-server")
        self.dags_folder = Path(dags_folder).resolve()
        self.extra_env: dict[str, str] = dict(env or {})
        self.parallelism = parallelism
        self.pythonpath = [str(Path(p).resolve()) for p in pythonpath]
        self.components: tuple[str, ...] = tuple(
            name for name in self.mode.components if components is None or name in components
        )
        self.start_timeout = start_timeout
        self.migrate_timeout = migrate_timeout
        self.stop_grace = stop_grace
        self.keep_home = keep_home or os.environ.get("AIRFLOW_STACK_KEEP_HOME", "") not in ("", "0")
        self.inherit_airflow_env = inherit_airflow_env
        self.setup_cli = [tuple(args) for args in setup_cli]
        self._given_home = Path(home).resolve() if home is not None else None
        self._home: Path | None = None
        self.stack_id = uuid.uuid4().hex[:12]
        self.username = "admin"
        self.password = secrets.token_urlsafe(16)
        self.ports = Ports(0, 0)
        self._env: dict[str, str] = {}
        self._supervisor = Supervisor(self.stack_id)
        self._services: list[PostgresServer | RedisServer] = []
        self._client: AirflowClient | None = None
        self._readiness = Readiness(self)
        self._started = False
        self._stopping = False
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ what a test reads

    @property
    def home(self) -> Path:
        if self._home is None:
            raise StackError("the stack has not been started")
        return self._home

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def env(self) -> dict[str, str]:
        """The environment the components (and ``cli()``) run with."""
        return dict(self._env)

    @property
    def triggerers(self) -> tuple[str, ...]:
        return tuple(name for name in self.components if name.startswith("triggerer"))

    @property
    def logs(self) -> dict[str, Path]:
        """Process name -> its log file (appended across restarts)."""
        names = (*self.components, "db-migrate", *(s.name for s in self._services))
        return {name: self.log_path(name) for name in names}

    @property
    def client(self) -> AirflowClient:
        """A REST client logged in as the stack's admin user."""
        if self._client is None:
            self._client = AirflowClient(self.api_url, self.username, self.password)
        return self._client

    def log_path(self, name: str) -> Path:
        return self.home / "component-logs" / f"{name}.log"

    def log_tail(self, name: str, lines: int = 60) -> str:
        return tail(self.log_path(name), lines)

    def log_text(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def grep_log(self, name: str, needle: str) -> list[str]:
        return [line for line in self.log_text(name).splitlines() if needle in line]

    def run_error_lines(self, dag_id: str, run_id: str, *, states: Iterable[str] = ("success",)) -> list[str]:
        """Error-level lines of a run, wherever they were logged, but those of its task
        instances that ended outside ``states`` (a task a test makes fail logs its error).

        Read: the task logs of the task instances in ``states`` (the REST API), and every
        component log line naming the run: a task's supervisor (in the scheduler with the
        LocalExecutor, in the Celery worker) logs there, e.g. what the task's calls to the
        execution API answered. Such a line names the task instance it is about, which is
        not always the one that logged it, so only a line naming a task instance outside
        ``states`` is left out.
        """
        wanted = set(states)
        found = self.client.error_log_lines(dag_id, run_id, states=wanted)
        others = {
            (str(ti["task_id"]), int(ti.get("map_index", -1)))
            for ti in self.client.task_instances(dag_id, run_id)
            if ti.get("state") not in wanted
        }
        for name in self.logs:
            for line in console_error_lines(self.log_text(name)):
                if f"dag_id={dag_id}" not in line or f"run_id={run_id}" not in line:
                    continue
                task = re.search(r"\btask_id=(\S+)", line)
                map_index = re.search(r"\bmap_index=(-?\d+)", line)
                if task is None or (task[1], int(map_index[1]) if map_index else -1) not in others:
                    found.append(f"{name}: {line}")
        return found

    def pid(self, name: str) -> int | None:
        return self._supervisor.pid(name)

    def is_running(self, name: str) -> bool:
        return self.pid(name) is not None

    def process_tree(self, name: str) -> list[Any]:
        """``psutil.Process`` objects of a running component and everything it started."""
        return self._supervisor.tree(name)

    def triggerer_job_id(self, name: str = "triggerer") -> int:
        """The ``TriggererJob`` id of a triggerer's current run (``trigger.triggerer_id``)."""
        return self._readiness.job_ids[name]

    def database_files(self) -> list[Path]:
        """The metadata database's files on disk (SQLite's file, or the PostgreSQL cluster)."""
        for service in self._services:
            if isinstance(service, PostgresServer):
                return service.data_files()
        return [p for p in self.home.glob("airflow.db*") if p.is_file()]

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> AirflowStack:
        """Start the mode's servers, migrate a fresh database, start every component."""
        if self._started:
            raise StackError("the stack is already started")
        if not self.dags_folder.is_dir():
            raise StackError(f"dags folder {self.dags_folder} does not exist")
        self._started, self._stopping = True, False
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            self._supervisor.watchdog.start()
            self._prepare_home()
            self._services = start_services(self.mode, self._supervisor, self.home / "component-logs")
            backends = backends_for(self._services, self.home)
            self._env = stack_environment(
                mode=self.mode,
                home=self.home,
                dags_folder=self.dags_folder,
                ports=self.ports,
                backends=backends,
                username=self.username,
                parallelism=self.parallelism,
                pythonpath=self.pythonpath,
                inherit_airflow_env=self.inherit_airflow_env,
                extra=self.extra_env,
            )
            self.timings["services"] = time.monotonic() - t0
            migrate_env = {**self._env, **self._supervisor.marker_env("db-migrate")}
            migrate(migrate_env, cwd=self.home, log=self.log_path("db-migrate"), timeout=self.migrate_timeout)
            self.timings["migrate"] = time.monotonic() - t0 - self.timings["services"]
            for args in self.setup_cli:
                self.cli(*args)
            t1 = time.monotonic()
            # One triggerer at a time: each is told apart by the job row it creates.
            first = [name for name in self.components if name not in self.triggerers[1:]]
            for name in first:
                self._launch(name)
            self._readiness.wait(first, timeout=self.start_timeout)
            for name in self.triggerers[1:]:
                self._launch(name)
                self._readiness.wait([name], timeout=self.start_timeout)
            self.client.login()
            self.timings["components"] = time.monotonic() - t1
            self.timings["start"] = time.monotonic() - t0
        except BaseException as exc:
            if isinstance(exc, Exception) and self._home is not None:
                self.keep_home = True
                exc.add_note(f"Airflow home (logs) kept at {self._home}")
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component (the api-server last), then the servers. Idempotent."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        supervisor = self._supervisor
        orderly = False
        try:
            if self._client is not None:
                self._client.close()
                self._client = None
            # Workers and triggerers talk to the api-server while they shut down.
            others = [name for name in supervisor.names if name in self.components and name != "api-server"]
            supervisor.terminate(others, grace=self.stop_grace)
            supervisor.terminate(["api-server"], grace=min(self.stop_grace, 10.0))
            for service in reversed(self._services):
                service.stop()
            supervisor.sweep()
            orderly = True
        finally:
            supervisor.watchdog.stop(orderly=orderly)  # interrupted: the watchdog finishes the job
            for name in supervisor.names:
                supervisor.forget(name)
            self._services.clear()
            self._started = False
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)
            if self._home is not None and self._given_home is None and not self.keep_home:
                shutil.rmtree(self._home, ignore_errors=True)

    def kill_component(self, name: str, sig: int = signal.SIGKILL, *, timeout: float = 30.0) -> None:
        """Stop one component and wait until it and everything it started are gone.

        ``SIGKILL`` kills the whole tree at once, like a crash of its machine. ``SIGTERM``
        asks it to shut down gracefully (a triggerer leaves its tasks deferred); whatever is
        left after ``timeout`` is killed.
        """
        if not self.is_running(name):
            raise StackError(f"{name} is not running")
        if sig == signal.SIGKILL:
            self._supervisor.kill_tree(name)
            self._supervisor.wait_gone([name], timeout=timeout)
        else:
            self._supervisor.terminate([name], sig=sig, grace=timeout)
        self._supervisor.forget(name)

    def start_component(self, name: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """(Re)start one component; with ``wait``, until it is ready (a fresh heartbeat)."""
        if name not in self.components:
            raise StackError(f"{name} is not a component of this stack ({self.components})")
        if self.is_running(name):
            raise StackError(f"{name} is already running (pid {self.pid(name)})")
        self._launch(name)
        if wait:
            self._readiness.wait([name], timeout=timeout or self.start_timeout)

    def restart_component(self, name: str, sig: int = signal.SIGTERM, *, timeout: float = 30.0) -> None:
        """Stop one component (:meth:`kill_component`) and start it again, until it is ready."""
        self.kill_component(name, sig, timeout=timeout)
        self.start_component(name)

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health`` (no authentication needed)."""
        return self._readiness.health()

    def cli(
        self, *args: str, timeout: float = 120.0, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` with the stack's environment; output captured as text."""
        if not self._env:
            raise StackError("the stack has not been started")
        return run_cli(args, self._env, cwd=self.home, timeout=timeout, check=check, input=input)

    # ------------------------------------------------------------------ internals

    def _prepare_home(self) -> None:
        if self._given_home is not None:
            self._home = self._given_home
            self._home.mkdir(parents=True, exist_ok=True)
        else:
            self._home = Path(tempfile.mkdtemp(prefix="airflow-stack-"))
            if not self.keep_home:
                self._supervisor.watchdog.record_dir(self._home)
        (self._home / "component-logs").mkdir(exist_ok=True)
        (self._home / "logs").mkdir(exist_ok=True)
        if not self.ports.api:
            api, worker_log, *trigger_logs = free_ports(2 + len(self.triggerers))
            self.ports = Ports(api, worker_log, dict(zip(self.triggerers, trigger_logs, strict=True)))
        passwords = self._home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}) + "\n", encoding="utf-8")
        passwords.chmod(0o600)

    def _launch(self, name: str) -> None:
        log = self.log_path(name)
        now = datetime.now(UTC)
        with log.open("ab") as out:
            out.write(f"\n===== {name} starting at {now.isoformat()} =====\n".encode())
        self._readiness.launching(name, now)
        self._supervisor.launch(
            name,
            component_command(name, api_port=self.ports.api, parallelism=self.parallelism),
            env={**self._env, **component_environment(name, self.ports)},
            cwd=self.home,
            log_path=log,
        )
