"""Throw-away PostgreSQL and Redis servers on loopback, one of each per stack.

Each is created fresh in a temporary directory, listens on a free 127.0.0.1 port, is
started by the stack's :class:`.processes.Supervisor` (so the watchdog stops it if the
test process dies) and is stopped by its pid. PostgreSQL refuses to run as root: as root
the cluster belongs to the ``postgres`` user and every server binary runs under
``setpriv``. Durability is switched off; the data is gone at the end of the session.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .logs import tail
from .processes import StackError, Supervisor, WaitTimeout, free_ports, wait_until
from .settings import Backends

if TYPE_CHECKING:
    from .mode import Mode

POSTGRES_USER = "postgres"
DATABASE = "airflow"
_POSTGRES_BINARIES = ("initdb", "postgres", "pg_isready", "createdb")


def postgres_bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``postgres`` ... (PATH first, then Debian's layout)."""
    candidates: list[Path] = []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    candidates.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True))
    for directory in candidates:
        if all((directory / name).is_file() for name in _POSTGRES_BINARIES):
            return directory
    return None


def _run_as_prefix() -> list[str]:
    """Prefix that drops root to the ``postgres`` user (empty when not root)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={POSTGRES_USER}", f"--regid={POSTGRES_USER}", "--init-groups", "--"]


def postgres_unavailable() -> str | None:
    if postgres_bin_dir() is None:
        return "no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(POSTGRES_USER)
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
        if shutil.which("setpriv") is None:
            return "running as root and setpriv (util-linux) is missing"
    return None


def redis_unavailable() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server not found (apt-get install -y redis-server)"
    return None


class PostgresServer:
    """A fresh PostgreSQL cluster with one database, ``airflow``, trusted on loopback."""

    name = "postgres"

    def __init__(self, supervisor: Supervisor, log_path: Path, *, timeout: float = 60.0) -> None:
        self.supervisor = supervisor
        self.log_path = log_path
        self.timeout = timeout
        self.port = 0
        self.directory: Path | None = None

    @property
    def data_dir(self) -> Path:
        if self.directory is None:
            raise StackError("PostgreSQL has not been started")
        return self.directory / "data"

    def url(self, scheme: str = "postgresql+psycopg2") -> str:
        return f"{scheme}://{POSTGRES_USER}@127.0.0.1:{self.port}/{DATABASE}"

    def start(self) -> PostgresServer:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise StackError(postgres_unavailable() or "PostgreSQL not found")
        prefix = _run_as_prefix()
        self.directory = Path(tempfile.mkdtemp(prefix="airflow-stack-pg-"))
        self.supervisor.watchdog.record_dir(self.directory)
        if prefix:
            entry = pwd.getpwnam(POSTGRES_USER)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        [self.port] = free_ports(1)
        initdb = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", POSTGRES_USER]
        initdb += ["--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"]
        self._run([*prefix, *initdb], "initdb")
        server = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        for setting in (
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "max_connections=200",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ):
            server += ["-c", setting]
        self.supervisor.launch(
            self.name,
            [*prefix, *server],
            env=_plain_env(),
            cwd=self.directory,
            log_path=self.log_path,
            abandon_signal=signal.SIGQUIT,  # immediate shutdown: the backends go too
        )
        ready = [
            str(bin_dir / "pg_isready"),
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            POSTGRES_USER,
        ]
        self._wait(lambda: subprocess.run(ready, timeout=10, check=False, env=_plain_env()).returncode == 0)
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", POSTGRES_USER]
        self._run([*createdb, DATABASE], "createdb")
        return self

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for clients to leave).
        self.supervisor.terminate([self.name], sig=signal.SIGINT, grace=20.0)
        self.supervisor.forget(self.name)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def data_files(self) -> list[Path]:
        """Every file of the cluster (tables and the write-ahead log)."""
        return [p for p in self.data_dir.rglob("*") if p.is_file()]

    def _run(self, command: list[str], what: str) -> None:
        with self.log_path.open("ab") as out:
            try:
                result = subprocess.run(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=str(self.directory),
                    env=_plain_env(),
                    timeout=self.timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise StackError(
                    f"PostgreSQL {what} took over {self.timeout}s\n{tail(self.log_path)}"
                ) from exc
        if result.returncode != 0:
            raise StackError(f"PostgreSQL {what} exited {result.returncode}\n{tail(self.log_path)}")

    def _wait(self, ready: Callable[[], bool]) -> None:
        def check() -> bool:
            proc = self.supervisor.process(self.name)
            if proc is None or proc.poll() is not None:
                raise StackError(f"PostgreSQL exited before it was ready\n{tail(self.log_path)}")
            return ready()

        try:
            wait_until(
                check, timeout=self.timeout, interval=0.2, description="PostgreSQL to accept connections"
            )
        except WaitTimeout as exc:
            raise StackError(f"{exc}\n{tail(self.log_path)}") from exc


class RedisServer:
    """``redis-server`` in the foreground, persistence off, on a loopback port."""

    name = "redis"

    def __init__(self, supervisor: Supervisor, log_path: Path, *, timeout: float = 30.0) -> None:
        self.supervisor = supervisor
        self.log_path = log_path
        self.timeout = timeout
        self.port = 0
        self.directory: Path | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError(redis_unavailable() or "redis-server not found")
        self.directory = Path(tempfile.mkdtemp(prefix="airflow-stack-redis-"))
        self.supervisor.watchdog.record_dir(self.directory)
        [self.port] = free_ports(1)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.supervisor.launch(
            self.name, command, env=_plain_env(), cwd=self.directory, log_path=self.log_path
        )

        def pong() -> bool:
            proc = self.supervisor.process(self.name)
            if proc is None or proc.poll() is not None:
                raise StackError(f"redis-server exited before it was ready\n{tail(self.log_path)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        try:
            wait_until(pong, timeout=self.timeout, interval=0.1, description="redis-server to answer PING")
        except WaitTimeout as exc:
            raise StackError(f"{exc}\n{tail(self.log_path)}") from exc
        return self

    def stop(self) -> None:
        self.supervisor.terminate([self.name], sig=signal.SIGTERM, grace=10.0)
        self.supervisor.forget(self.name)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def start_services(mode: Mode, supervisor: Supervisor, log_dir: Path) -> list[PostgresServer | RedisServer]:
    """Start the servers ``mode`` needs (none for sqlite); all of them, or none on failure."""
    wanted: list[PostgresServer | RedisServer] = []
    if mode.database == "postgres":
        wanted.append(PostgresServer(supervisor, log_dir / "postgres.log"))
    if mode.celery:
        wanted.append(RedisServer(supervisor, log_dir / "redis.log"))
    started: list[PostgresServer | RedisServer] = []
    try:
        for service in wanted:
            started.append(service)
            service.start()
    except BaseException:
        for service in reversed(started):
            service.stop()
        raise
    return started


def backends_for(services: list[PostgresServer | RedisServer], home: Path) -> Backends:
    """The database (SQLite in ``home`` unless PostgreSQL runs), broker and result backend."""
    postgres = next((s for s in services if isinstance(s, PostgresServer)), None)
    redis = next((s for s in services if isinstance(s, RedisServer)), None)
    if postgres is None:
        return Backends(f"sqlite:///{home / 'airflow.db'}")
    return Backends(
        postgres.url(),
        broker_url=redis.url() if redis else None,
        result_backend=postgres.url("db+postgresql+psycopg2") if redis else None,
    )


def _plain_env() -> dict[str, str]:
    """The servers' environment: this process's, without Airflow's or Python's settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON"))}
