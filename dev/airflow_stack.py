"""A real, local Apache Airflow 3.3 stack for demos and end-to-end tests.

``AirflowStack`` runs the separate Airflow components (``api-server``, ``scheduler``,
``dag-processor``, ``triggerer``) as subprocesses of the current Python environment, on a
fresh temporary ``AIRFLOW_HOME`` with SQLite and the LocalExecutor. Each component runs in its
own process group and writes its output to a log file in the stack's home, so tests can grep
the logs and kill or restart one component (the triggerer, the scheduler) alone.

``AirflowClient`` is a small, bounded REST client for the stack's public API
(``/api/v2``, token from ``POST /auth/token``).

Every wait is bounded; ``stop()`` never leaves a process behind (it also sweeps processes that
left their component's process group, found by a marker in their environment), and a small
watchdog process does the same if the Python process that started the stack dies.

Configuration (environment variables of every component; ``env=`` overrides any of them):
SQLite in the home, LocalExecutor, ``[core] parallelism=4``, ``load_examples=False``, a random
Fernet key, JWT secret (86 chars) and API secret key per stack, free loopback ports for
``[api] port``, ``[logging] worker_log_server_port`` and ``trigger_log_server_port``,
``[core] execution_api_server_url`` on the api-server, the simple auth manager with user
``admin`` and a random password known before start (``stack.password``), DAG folder scanned
every 2 s (``[dag_processor] refresh_interval=2``, ``bundle_refresh_check_interval=1``,
``min_file_process_interval=5``), scheduler and triggerer heartbeats every second, a killed
triggerer's triggers adopted after 10 s (``triggerer_health_check_threshold``), and
``[workers] min_heartbeat_interval=1`` (the deferral race in AIRFLOW-NOTES.md).

Usage::

    with AirflowStack(dags_folder="example_dags", env={"AIRFLOW_CONN_X": "..."}) as stack:
        api = stack.client
        run = api.run_dag("my_dag", conf={"n": 3}, timeout=300)
        assert run["state"] == "success"
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = [
    "COMPONENTS",
    "TERMINAL_RUN_STATES",
    "TERMINAL_TI_STATES",
    "AirflowClient",
    "AirflowStack",
    "ApiError",
    "StackError",
    "WaitTimeout",
    "airflow_executable",
    "running_stack",
    "wait_until",
]

T = TypeVar("T")

#: The components, in start order.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Component name -> key in ``GET /api/v2/monitor/health``.
_HEALTH_KEYS: dict[str, str] = {
    "scheduler": "scheduler",
    "triggerer": "triggerer",
    "dag-processor": "dag_processor",
}
TERMINAL_RUN_STATES: frozenset[str] = frozenset({"success", "failed"})
TERMINAL_TI_STATES: frozenset[str] = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})

#: Environment markers inherited by every process a component starts (task processes too):
#: ``stop()`` finds stragglers that left the component's process group by these.
_MARK_STACK = "I2V_DEV_AIRFLOW_STACK_ID"
_MARK_COMPONENT = "I2V_DEV_AIRFLOW_COMPONENT"


class StackError(RuntimeError):
    """The stack failed to start, or a component died or did not become healthy."""


class WaitTimeout(TimeoutError):
    """A bounded wait ran out of time."""


class ApiError(RuntimeError):
    """The Airflow REST API answered with an unexpected status."""

    def __init__(self, method: str, url: str, status_code: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status_code}: {body[:2000]}")
        self.status_code = status_code
        self.body = body


def wait_until(
    predicate: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.5,
    description: str = "condition",
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    Raises ``WaitTimeout`` after ``timeout`` seconds, with ``details()`` (if given) appended to
    the message. Exceptions raised by ``predicate`` propagate at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:.0f}s waiting for {description}"
            if details is not None:
                with contextlib.suppress(Exception):
                    message += "\n" + details()
            raise WaitTimeout(message)
        time.sleep(interval)


def airflow_executable() -> list[str]:
    """The command that runs the ``airflow`` CLI of the current Python environment."""
    candidate = Path(sys.executable).parent / "airflow"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return [str(candidate)]
    return [sys.executable, "-m", "airflow"]


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (held open together so they differ)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tail(path: Path, lines: int = 60) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(data.splitlines()[-lines:])


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


#: Watchdog run in its own process: it blocks on a pipe whose only write end this process
#: holds, so it wakes up when this process exits (``stop()`` closes the pipe too, however this
#: process dies: SIGKILL included) and then SIGKILLs every process carrying the stack's marker.
_WATCHDOG = r"""
import os, signal, sys, time
marker = sys.argv[1].encode()
fd = int(sys.argv[2])
while True:
    try:
        if not os.read(fd, 1024):
            break
    except InterruptedError:
        continue
    except OSError:
        break
me = os.getpid()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/environ" % name, "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    found.append(int(name))
        except OSError:
            pass
    if not found:
        break
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.2)
"""


class AirflowStack:
    """A real Airflow 3.3 (api-server, scheduler, dag-processor, triggerer) on a temp home.

    :param dags_folder: the DAG folder the dag-processor scans.
    :param env: extra environment variables for every component and CLI call (for example
        ``AIRFLOW_CONN_I2V_DEFAULT``); they are applied last, so ``AIRFLOW__SECTION__KEY``
        entries here override the stack's own settings.
    :param home: the ``AIRFLOW_HOME`` to use (created if missing, never deleted). Default: a
        new temporary directory, deleted by ``stop()`` unless ``keep_home`` (or the environment
        variable ``AIRFLOW_STACK_KEEP_HOME=1``) is set.
    :param parallelism: ``[core] parallelism``: how many task processes the LocalExecutor runs.
    :param pythonpath: directories prepended to ``PYTHONPATH`` of every component.
    :param components: which components to run (default: all four).
    :param start_timeout: bound for ``start()`` (migration excluded, it has its own bound).
    :param stop_grace: seconds between SIGTERM and SIGKILL in ``stop()``.
    :param inherit_airflow_env: keep ``AIRFLOW_*`` variables of the calling environment
        (default False: the stack is hermetic; pass what you need in ``env``).
    """

    def __init__(
        self,
        dags_folder: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        home: str | os.PathLike[str] | None = None,
        parallelism: int = 4,
        pythonpath: Sequence[str | os.PathLike[str]] = (),
        components: Sequence[str] = COMPONENTS,
        start_timeout: float = 120.0,
        migrate_timeout: float = 180.0,
        stop_grace: float = 15.0,
        keep_home: bool = False,
        inherit_airflow_env: bool = False,
    ) -> None:
        unknown = set(components) - set(COMPONENTS)
        if unknown:
            raise ValueError(f"unknown components {sorted(unknown)}; known: {COMPONENTS}")
        if "api-server" not in components:
            raise ValueError("the api-server is required (workers and the REST client talk to it)")
        self.dags_folder = Path(dags_folder).resolve()
        self.extra_env: dict[str, str] = dict(env or {})
        self.parallelism = parallelism
        self.pythonpath = [str(Path(p).resolve()) for p in pythonpath]
        self.components: tuple[str, ...] = tuple(c for c in COMPONENTS if c in components)
        self.start_timeout = start_timeout
        self.migrate_timeout = migrate_timeout
        self.stop_grace = stop_grace
        self.keep_home = keep_home or os.environ.get("AIRFLOW_STACK_KEEP_HOME", "") not in ("", "0")
        self.inherit_airflow_env = inherit_airflow_env
        self._given_home = Path(home).resolve() if home is not None else None
        self._home: Path | None = None
        self.stack_id = uuid.uuid4().hex[:12]
        self.username = "admin"
        self.password = secrets.token_urlsafe(16)
        self.api_port = 0
        self.worker_log_server_port = 0
        self.trigger_log_server_port = 0
        self._env: dict[str, str] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._launched_at: dict[str, datetime] = {}
        self._client: AirflowClient | None = None
        self._started = False
        self._stopping = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._watchdog_fd: int | None = None
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ properties

    @property
    def home(self) -> Path:
        """The stack's ``AIRFLOW_HOME`` (exists once ``start()`` began)."""
        if self._home is None:
            raise StackError("the stack has not been started")
        return self._home

    @property
    def api_url(self) -> str:
        """Base URL of the api-server, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def env(self) -> dict[str, str]:
        """The full environment the components (and ``cli()``) run with."""
        return dict(self._env)

    @property
    def logs(self) -> dict[str, Path]:
        """Component name -> its log file (stdout and stderr; appended across restarts)."""
        return {name: self.log_path(name) for name in (*self.components, "db-migrate")}

    @property
    def task_logs_dir(self) -> Path:
        """``[logging] base_log_folder``: task logs live below it."""
        return self.home / "logs"

    @property
    def client(self) -> AirflowClient:
        """A REST client logged in as the stack's admin user (created on first use)."""
        if self._client is None:
            self._client = AirflowClient(self.api_url, self.username, self.password)
        return self._client

    def log_path(self, name: str) -> Path:
        return self.home / "component-logs" / f"{name}.log"

    def log_tail(self, name: str, lines: int = 60) -> str:
        return _tail(self.log_path(name), lines)

    def log_text(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def grep_log(self, name: str, needle: str) -> list[str]:
        """Lines of a component's log that contain ``needle``."""
        return [line for line in self.log_text(name).splitlines() if needle in line]

    def pid(self, name: str) -> int | None:
        proc = self._procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def is_running(self, name: str) -> bool:
        return self.pid(name) is not None

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> AirflowStack:
        """Migrate a fresh database and start every component; wait until all are healthy."""
        if self._started:
            raise StackError("the stack is already started")
        if not self.dags_folder.is_dir():
            raise StackError(f"dags folder {self.dags_folder} does not exist")
        self._started = True
        self._stopping = False
        atexit.register(self.stop)
        t0 = time.monotonic()
        try:
            self._start_watchdog()
            self._prepare_home()
            self._migrate()
            self.timings["migrate"] = time.monotonic() - t0
            t1 = time.monotonic()
            for name in self.components:
                self._launch(name)
            self._wait_healthy(self.components, timeout=self.start_timeout)
            self.client.login()
            self.timings["components"] = time.monotonic() - t1
            self.timings["start"] = time.monotonic() - t0
        except BaseException as exc:
            if isinstance(exc, Exception) and self._home is not None:
                self.keep_home = True  # keep the logs of a failed start for inspection
                exc.add_note(f"Airflow home (logs) kept at {self._home}")
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every component: SIGTERM, then SIGKILL after ``stop_grace``. Idempotent."""
        if not self._started or self._stopping:
            return
        self._stopping = True
        try:
            if self._client is not None:
                self._client.close()
                self._client = None
            # The api-server last: workers and the triggerer talk to it while shutting down.
            others = [name for name in self._procs if name != "api-server"]
            self._terminate(others, sig=signal.SIGTERM, grace=self.stop_grace)
            self._terminate(["api-server"], sig=signal.SIGTERM, grace=min(self.stop_grace, 10.0))
            self._sweep(component=None)
        finally:
            self._stop_watchdog()
            self._procs.clear()
            self._started = False
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)
            if self._home is not None and self._given_home is None and not self.keep_home:
                shutil.rmtree(self._home, ignore_errors=True)

    def kill_component(
        self, name: str, sig: int = signal.SIGKILL, *, tree: bool = True, timeout: float = 30.0
    ) -> None:
        """Signal one component and wait until it is gone.

        With ``sig=SIGKILL`` and ``tree=True`` (default) the component and every process it
        started (task processes, the trigger runner...) are killed at once, like a crash of its
        machine. With ``SIGTERM`` the component's main process is asked to shut down gracefully
        (a triggerer leaves its tasks deferred); whatever is left after ``timeout`` is killed.
        ``tree=False`` signals the main process only and waits for it alone.
        """
        proc = self._require(name)
        if not tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise StackError(f"{name} (pid {proc.pid}) did not exit within {timeout}s of {sig}") from exc
            return
        if sig == signal.SIGKILL:
            self._kill_tree(name)
            self._wait_tree_gone([name], timeout=timeout)
        else:
            self._terminate([name], sig=sig, grace=timeout)
        self._procs.pop(name, None)

    def start_component(self, name: str, *, wait: bool = True, timeout: float | None = None) -> None:
        """(Re)start one component; with ``wait``, until it reports a fresh heartbeat."""
        if name not in self.components:
            raise StackError(f"{name} is not a component of this stack ({self.components})")
        if self.is_running(name):
            raise StackError(f"{name} is already running (pid {self.pid(name)})")
        self._launch(name)
        if wait:
            self._wait_healthy([name], timeout=timeout or self.start_timeout)

    def restart_component(self, name: str, sig: int = signal.SIGTERM, *, timeout: float = 30.0) -> None:
        self.kill_component(name, sig, timeout=timeout)
        self.start_component(name)

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health`` (no authentication needed)."""
        response = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=10.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def cli(
        self, *args: str, timeout: float = 120.0, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` with the stack's environment; output captured as text."""
        if not self._env:
            raise StackError("the stack has not been started")
        result = subprocess.run(
            [*airflow_executable(), *args],
            env=self._env,
            cwd=str(self.home),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
        if check and result.returncode != 0:
            raise StackError(
                f"airflow {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
            )
        return result

    # ------------------------------------------------------------------ internals

    def _prepare_home(self) -> None:
        if self._given_home is not None:
            self._home = self._given_home
            self._home.mkdir(parents=True, exist_ok=True)
        else:
            self._home = Path(tempfile.mkdtemp(prefix="airflow-stack-"))
        (self._home / "component-logs").mkdir(exist_ok=True)
        (self._home / "logs").mkdir(exist_ok=True)
        if not self.api_port:
            self.api_port, self.worker_log_server_port, self.trigger_log_server_port = _free_ports(3)
        passwords = self._home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}) + "\n", encoding="utf-8")
        passwords.chmod(0o600)
        self._env = self._build_env()

    def _build_env(self) -> dict[str, str]:
        home = self.home
        env = {
            key: value
            for key, value in os.environ.items()
            if self.inherit_airflow_env or not key.startswith("AIRFLOW")
        }
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        if self.pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([*self.pythonpath, *filter(None, [env.get("PYTHONPATH")])])
        fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        settings = {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                home / "simple_auth_manager_passwords.json"
            ),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_server_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_server_port),
            "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "dag_bundles"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # A killed triggerer's triggers move to a live one after this many seconds.
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            # The race in AIRFLOW-NOTES.md: a trigger firing within ~5 s of deferring.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "NO_COLOR": "1",
            # setproctitle (api-server, workers, task processes) must not clobber /proc/PID/environ:
            # stop() finds stray processes by the marker below.
            "SPT_NOENV": "1",
            _MARK_STACK: self.stack_id,
        }
        env.update(settings)
        env.update(self.extra_env)
        return env

    def _migrate(self) -> None:
        log = self.log_path("db-migrate")
        with log.open("ab") as out:
            try:
                result = subprocess.run(
                    [*airflow_executable(), "db", "migrate"],
                    env={**self._env, _MARK_COMPONENT: "db-migrate"},
                    cwd=str(self.home),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=self.migrate_timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise StackError(
                    f"airflow db migrate did not finish within {self.migrate_timeout}s\n"
                    f"--- {log}\n{_tail(log)}"
                ) from exc
        if result.returncode != 0:
            raise StackError(f"airflow db migrate exited {result.returncode}\n--- {log}\n{_tail(log)}")

    def _command(self, name: str) -> list[str]:
        base = airflow_executable()
        if name == "api-server":
            port = str(self.api_port)
            return [*base, "api-server", "--host", "127.0.0.1", "--port", port, "--workers", "1"]
        return [*base, name]

    def _launch(self, name: str) -> None:
        log = self.log_path(name)
        now = datetime.now(UTC)
        with log.open("ab") as out:
            out.write(f"\n===== {name} starting at {now.isoformat()} =====\n".encode())
            out.flush()
            proc = subprocess.Popen(
                self._command(name),
                env={**self._env, _MARK_COMPONENT: name},
                cwd=str(self.home),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._procs[name] = proc
        self._launched_at[name] = now

    def _require(self, name: str) -> subprocess.Popen[bytes]:
        proc = self._procs.get(name)
        if proc is None or proc.poll() is not None:
            raise StackError(f"{name} is not running")
        return proc

    def _check_alive(self, names: Iterable[str]) -> None:
        for name in names:
            proc = self._procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise StackError(
                    f"Airflow {name} exited with code {proc.returncode} "
                    f"(log {self.log_path(name)}):\n{self.log_tail(name)}"
                )

    def _wait_healthy(self, names: Sequence[str], *, timeout: float) -> None:
        pending = list(names)

        def check() -> bool:
            self._check_alive(self._procs)
            try:
                health = self.health()
            except (httpx.HTTPError, ValueError):
                return False
            for name in list(pending):
                if name == "api-server":
                    pending.remove(name)
                    continue
                entry = health.get(_HEALTH_KEYS[name]) or {}
                beat = _parse_time(entry.get(f"latest_{_HEALTH_KEYS[name]}_heartbeat"))
                launched = self._launched_at[name]
                if entry.get("status") == "healthy" and beat is not None and beat >= launched:
                    pending.remove(name)
            return not pending

        def details() -> str:
            parts = [f"not healthy: {pending}"]
            with contextlib.suppress(Exception):
                parts.append(f"health: {json.dumps(self.health())}")
            for name in pending or names:
                parts.append(f"--- {self.log_path(name)}\n{self.log_tail(name, 40)}")
            return "\n".join(parts)

        try:
            wait_until(
                check, timeout=timeout, interval=0.3, description=f"Airflow {list(names)}", details=details
            )
        except WaitTimeout as exc:
            raise StackError(str(exc)) from exc

    # ---- process handling

    def _start_watchdog(self) -> None:
        """Start the watchdog that kills the stack's processes if this process dies (Linux)."""
        if not Path("/proc/self/environ").exists() or self._watchdog is not None:
            return
        read_fd, write_fd = os.pipe()  # both non-inheritable: components never get write_fd
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", _WATCHDOG, f"{_MARK_STACK}={self.stack_id}", str(read_fd)],
                pass_fds=(read_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal does not reach it
            )
        except BaseException:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._watchdog_fd = write_fd

    def _stop_watchdog(self) -> None:
        if self._watchdog_fd is not None:
            os.close(self._watchdog_fd)  # EOF: the watchdog sweeps (nothing left) and exits
            self._watchdog_fd = None
        if self._watchdog is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._watchdog.wait(timeout=25)
            self._watchdog = None

    def _marked_pids(self, component: str | None) -> list[int]:
        """Live processes carrying this stack's marker (and the component's, if given)."""
        try:
            import psutil  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - psutil comes with Airflow
            return []
        found: list[int] = []
        me = os.getpid()
        for proc in psutil.process_iter():
            if proc.pid == me:
                continue
            try:
                environ = proc.environ()
            except (psutil.Error, OSError):
                continue
            if environ.get(_MARK_STACK) != self.stack_id:
                continue
            if component is not None and environ.get(_MARK_COMPONENT) != component:
                continue
            with contextlib.suppress(psutil.Error):
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
            found.append(proc.pid)
        return found

    def _descendants(self, names: Iterable[str]) -> list[Any]:
        """``psutil.Process`` objects of every live descendant of the named components."""
        try:
            import psutil  # type: ignore[import-untyped]
        except ImportError:  # pragma: no cover - psutil comes with Airflow
            return []
        found: list[Any] = []
        for name in names:
            proc = self._procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(psutil.Error):
                found.extend(psutil.Process(proc.pid).children(recursive=True))
        return found

    @staticmethod
    def _kill_processes(processes: Iterable[Any]) -> None:
        for process in processes:
            with contextlib.suppress(Exception):
                if process.is_running():  # also guards against pid reuse
                    process.kill()

    def _kill_tree(self, name: str, snapshot: Iterable[Any] = ()) -> None:
        self._kill_processes([*snapshot, *self._descendants([name])])
        proc = self._procs.get(name)
        marked = self._marked_pids(name)
        if proc is not None and (proc.poll() is None or marked):
            # start_new_session=True: the process group id is the leader's pid. A process group
            # id is not reused while the group has members, even after the leader is reaped.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in marked:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def _wait_tree_gone(self, names: Sequence[str], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            proc = self._procs.get(name)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline:
            if not any(self._marked_pids(name) for name in names):
                return
            time.sleep(0.1)

    def _terminate(self, names: Sequence[str], *, sig: int, grace: float) -> None:
        """Send ``sig`` to each main process, wait ``grace``, then SIGKILL whatever is left."""
        names = [name for name in names if name in self._procs]
        snapshot = self._descendants(names)  # before anything can be orphaned
        for name in names:
            proc = self._procs[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
        deadline = time.monotonic() + grace
        for name in names:
            proc = self._procs[name]
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        self._kill_processes(snapshot)
        for name in names:
            self._kill_tree(name)
        self._wait_tree_gone(names, timeout=10.0)

    def _sweep(self, component: str | None) -> None:
        """SIGKILL every process of this stack still alive, whatever its process group."""
        for _ in range(3):
            pids = self._marked_pids(component)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)


class AirflowClient:
    """A small REST client for Airflow's public API (``/api/v2``), with bounded waits.

    Authenticates with ``POST /auth/token`` (simple auth manager) and logs in again on 401.
    """

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- plumbing

    def login(self) -> str:
        response = self._http.post("/auth/token", json={"username": self.username, "password": self.password})
        if response.status_code not in (200, 201):
            raise ApiError("POST", "/auth/token", response.status_code, response.text)
        token: str = response.json()["access_token"]
        self._token = token
        return token

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        ok: Iterable[int] = (200, 201, 204),
    ) -> httpx.Response:
        """Send an authenticated request; raise ``ApiError`` unless the status is in ``ok``."""
        if self._token is None:
            self.login()
        url = path if path.startswith("/") else f"/api/v2/{path}"
        for attempt in range(2):
            all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
            response = self._http.request(method, url, params=params, json=json_body, headers=all_headers)
            if response.status_code == 401 and attempt == 0:
                self.login()
                continue
            break
        if response.status_code not in set(ok):
            raise ApiError(method, url, response.status_code, response.text)
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def _paged(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """All items of a list endpoint (they return at most 100 per page)."""
        items: list[dict[str, Any]] = []
        page = 100
        while True:
            query = {**(params or {}), "limit": page, "offset": len(items)}
            data = self.request("GET", path, params=query).json()
            batch = data.get(key) or []
            items.extend(batch)
            if not batch or len(items) >= int(data.get("total_entries", 0)):
                return items

    # ---- DAGs

    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self.request("GET", f"dags/{dag_id}", ok=(200, 404))
        return None if response.status_code == 404 else dict(response.json())

    def import_errors(self) -> list[dict[str, Any]]:
        return self._paged("importErrors", "import_errors")

    def wait_for_dag(self, dag_id: str, *, timeout: float = 90.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; fail early on its import error."""

        def parsed() -> dict[str, Any] | None:
            dag = self.get_dag(dag_id)
            if dag is not None and dag.get("has_import_errors"):
                raise StackError(f"DAG {dag_id} has import errors:\n{self._import_errors_text()}")
            return dag

        return wait_until(
            parsed,
            timeout=timeout,
            interval=0.5,
            description=f"DAG {dag_id!r} to be parsed",
            details=self._import_errors_text,
        )

    def _import_errors_text(self) -> str:
        errors = self.import_errors()
        if not errors:
            return "no import errors reported"
        return "\n".join(f"{e.get('filename')}:\n{e.get('stack_trace')}" for e in errors)

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        response = self.request(
            "PATCH", f"dags/{dag_id}", params={"update_mask": "is_paused"}, json_body={"is_paused": paused}
        )
        return dict(response.json())

    def unpause(self, dag_id: str) -> dict[str, Any]:
        return self.set_paused(dag_id, False)

    # ---- DAG runs

    def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Trigger a manual run (no logical date); returns the DAG run (``dag_run_id`` ...)."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        if note is not None:
            body["note"] = note
        return dict(self.request("POST", f"dags/{dag_id}/dagRuns", json_body=body).json())

    def get_dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float = 300.0,
        interval: float = 1.0,
        states: Iterable[str] = TERMINAL_RUN_STATES,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Wait until the run reaches one of ``states`` (default: success or failed); return it.

        ``on_poll(run)`` is called on every poll (for progress output).
        """
        wanted = set(states)

        def done() -> dict[str, Any] | None:
            run = self.get_dag_run(dag_id, run_id)
            if on_poll is not None:
                on_poll(run)
            return run if run.get("state") in wanted else None

        return wait_until(
            done,
            timeout=timeout,
            interval=interval,
            description=f"DAG run {dag_id}/{run_id} to reach {sorted(wanted)}",
            details=lambda: "task states: " + json.dumps(self.task_states(dag_id, run_id), indent=1),
        )

    def run_dag(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        timeout: float = 300.0,
        parse_timeout: float = 90.0,
    ) -> dict[str, Any]:
        """Wait for the DAG to be parsed, unpause it, trigger it, and wait for the run's end."""
        self.wait_for_dag(dag_id, timeout=parse_timeout)
        self.unpause(dag_id)
        run = self.trigger(dag_id, conf)
        return self.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)

    # ---- task instances

    def task_instances(
        self, dag_id: str, run_id: str, *, task_id: str | None = None, **filters: Any
    ) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included (all pages)."""
        params: dict[str, Any] = dict(filters)
        if task_id is not None:
            params["task_id"] = task_id
        items = self._paged(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances", params)
        return sorted(items, key=lambda ti: (str(ti.get("task_id")), int(ti.get("map_index", -1))))

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        return dict(self.get_json(path))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{"task" or "task[i]": state}`` for every task instance of a run."""
        return {_ti_label(ti): ti.get("state") for ti in self.task_instances(dag_id, run_id)}

    def task_tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of a task instance (``TaskInstanceHistory`` plus the current one)."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        return self._paged(path, "task_instances")

    def try_details(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> dict[str, Any]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries/{try_number}"
        return dict(self.get_json(path, map_index=map_index))

    def task_log(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int,
        map_index: int = -1,
        *,
        compact: bool = False,
    ) -> str:
        """The full log of one try, rendered as text lines.

        ``compact`` drops the per-line task context (dag_id, run_id, ti_id, source line...),
        Airflow's ``::group::`` markers, and keeps only the last frames of tracebacks.
        """
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        response = self.request(
            "GET",
            path,
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = response.json().get("content") or []
        lines: list[str] = []
        in_sources = False
        for entry in content:
            if compact:
                event = str(entry.get("event", "")) if isinstance(entry, dict) else str(entry)
                if event == "::group::Log message source details":
                    in_sources = True
                if in_sources:
                    in_sources = event != "::endgroup::"
                    continue
                if event.startswith("::"):  # group markers of the UI
                    continue
            lines.append(_render_log_entry(entry, compact=compact))
        return "\n".join(lines)

    def set_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """Mark a task instance (e.g. ``failed``, ``success``) like the UI does."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        if map_index >= 0:
            path += f"/{map_index}"
        response = self.request("PATCH", path, json_body={"new_state": state})
        return list(response.json().get("task_instances") or [])

    def clear_task_instances(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Sequence[str | tuple[str, int]] | None = None,
        *,
        only_failed: bool = False,
        include_downstream: bool = False,
        reset_dag_runs: bool = True,
        dry_run: bool = False,
    ) -> list[dict[str, Any]]:
        """Clear task instances of one run (``task_ids`` items: ``"t"`` or ``("t", map_index)``).

        Unlike the endpoint's defaults, this clears for real and not only failed ones.
        """
        body: dict[str, Any] = {
            "dag_run_id": run_id,
            "dry_run": dry_run,
            "only_failed": only_failed,
            "reset_dag_runs": reset_dag_runs,
            "include_downstream": include_downstream,
        }
        if task_ids is not None:
            body["task_ids"] = [list(t) if isinstance(t, tuple) else t for t in task_ids]
        response = self.request("POST", f"dags/{dag_id}/clearTaskInstances", json_body=body)
        return list(response.json().get("task_instances") or [])

    # ---- XCom

    def xcom_entry(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> dict[str, Any] | None:
        """The raw XCom entry (``{"key", "value", ...}``) or None if there is none."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        response = self.request("GET", path, params={"map_index": map_index}, ok=(200, 404))
        return None if response.status_code == 404 else dict(response.json())

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The XCom value, decoded (raises ``KeyError`` if the entry does not exist)."""
        entry = self.xcom_entry(dag_id, run_id, task_id, key, map_index)
        if entry is None:
            raise KeyError(f"no XCom {key!r} for {dag_id}/{run_id}/{task_id}[{map_index}]")
        value = entry.get("value")
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    # ---- connections (stored in the metadata DB; an AIRFLOW_CONN_* variable of the same id wins)

    def set_connection(
        self,
        conn_id: str,
        conn_type: str,
        *,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        port: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create or replace a connection in the metadata database."""
        body: dict[str, Any] = {
            "connection_id": conn_id,
            "conn_type": conn_type,
            "host": host,
            "login": login,
            "password": password,
            "port": port,
            "extra": json.dumps(dict(extra)) if extra is not None else None,
        }
        response = self.request("POST", "connections", json_body=body, ok=(201, 409))
        if response.status_code == 409:
            response = self.request("PATCH", f"connections/{conn_id}", json_body=body)
        return dict(response.json())

    def delete_connection(self, conn_id: str) -> None:
        self.request("DELETE", f"connections/{conn_id}", ok=(204, 404))

    # ---- diagnostics

    def describe_failures(self, dag_id: str, run_id: str, *, log_lines: int = 30) -> str:
        """Failed task instances of a run with the tail of each one's log (for error messages)."""
        parts: list[str] = []
        for ti in self.task_instances(dag_id, run_id):
            if ti.get("state") not in ("failed", "upstream_failed", "up_for_retry"):
                continue
            label = _ti_label(ti)
            parts.append(f"task {label}: {ti.get('state')} (try {ti.get('try_number')})")
            if ti.get("state") == "upstream_failed" or not ti.get("try_number"):
                continue
            try:
                text = self.task_log(
                    dag_id,
                    run_id,
                    ti["task_id"],
                    int(ti["try_number"]),
                    int(ti.get("map_index", -1)),
                    compact=True,
                )
            except (ApiError, httpx.HTTPError) as exc:
                text = f"<log unavailable: {exc}>"
            tail = "\n".join(text.splitlines()[-log_lines:])
            parts.append("    " + tail.replace("\n", "\n    "))
        return "\n".join(parts) if parts else "no failed task instances"


def _ti_label(ti: Mapping[str, Any]) -> str:
    map_index = int(ti.get("map_index", -1))
    return f"{ti.get('task_id')}[{map_index}]" if map_index >= 0 else str(ti.get("task_id"))


#: Keys every line of a task log repeats (the task's identity and the source line).
_LOG_CONTEXT_KEYS = frozenset(
    {"ti_id", "dag_id", "run_id", "task_id", "map_index", "try_number", "filename", "lineno", "loc"}
)


def _render_log_entry(entry: Any, *, compact: bool = False) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    parts = [str(entry.get(k)) for k in ("timestamp", "level") if entry.get(k)]
    line = " ".join(parts)
    line = f"{line} {entry.get('event', '')}".strip()
    skip = {"timestamp", "level", "event", "logger", "error_detail", "sources"}
    if compact:
        skip |= _LOG_CONTEXT_KEYS
    extras = {k: v for k, v in entry.items() if k not in skip}
    if extras:
        line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
    details = entry.get("error_detail")
    if details:
        line += "\n" + _render_error_detail(details, max_frames=4 if compact else None)
    return line


def _render_error_detail(details: Any, *, max_frames: int | None = None) -> str:
    lines: list[str] = []
    for exc in details if isinstance(details, list) else [details]:
        if not isinstance(exc, dict):
            lines.append(str(exc))
            continue
        frames = list(exc.get("frames") or [])
        if max_frames is not None and len(frames) > max_frames:
            lines.append(f"  ... {len(frames) - max_frames} frames")
            frames = frames[-max_frames:]
        for frame in frames:
            where = f'"{frame.get("filename")}", line {frame.get("lineno")}'
            lines.append(f"  File {where}, in {frame.get('name')}")
        lines.append(f"{exc.get('exc_type')}: {exc.get('exc_value')}")
    return "\n".join(lines)


@contextlib.contextmanager
def running_stack(dags_folder: str | os.PathLike[str], **kwargs: Any) -> Iterator[AirflowStack]:
    """``with running_stack(folder) as stack:`` -- a started stack, stopped on exit."""
    stack = AirflowStack(dags_folder, **kwargs)
    with stack:
        yield stack
