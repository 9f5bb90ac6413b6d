"""Child processes that are stopped by pid and never outlive the test session.

A stack's servers (Airflow's components, PostgreSQL, Redis) are started here, each in its
own session so that Ctrl-C in a terminal reaches only the test process, which then stops
them in order. Airflow components start processes of their own (task processes, trigger
runners, Celery pool workers), some of which leave the component's process group; they
are found again by a marker in their environment, which they inherit. PostgreSQL and
Redis rewrite their process titles over the environment, so those are stopped by the
pid this module started and recorded, never by name.

Every child is also recorded with the stack's :class:`.watchdog.Watchdog`, which stops it
if the test process dies without stopping the stack.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psutil  # comes with Airflow

from .watchdog import Watchdog

T = TypeVar("T")

#: Inherited by every process a child starts: ``sweep()`` finds stragglers by these.
MARK_STACK = "I2V_DEV_AIRFLOW_STACK_ID"
MARK_COMPONENT = "I2V_DEV_AIRFLOW_COMPONENT"


class StackError(RuntimeError):
    """A server failed to start, died, or did not become ready in time."""


class WaitTimeout(TimeoutError):
    """A bounded wait ran out of time."""


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


def free_ports(count: int) -> list[int]:
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


class Supervisor:
    """Starts named children and stops them (and whatever they started) by pid."""

    def __init__(self, stack_id: str) -> None:
        self.stack_id = stack_id
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self.watchdog = Watchdog(f"{MARK_STACK}={stack_id}")

    def marker_env(self, name: str) -> dict[str, str]:
        return {MARK_STACK: self.stack_id, MARK_COMPONENT: name}

    # ---- children

    def launch(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        abandon_signal: int = signal.SIGKILL,
        **popen: Any,
    ) -> subprocess.Popen[bytes]:
        """Start ``command`` as child ``name``, its output appended to ``log_path``.

        ``abandon_signal`` is what the watchdog sends it if this process dies first
        (PostgreSQL wants SIGQUIT, its immediate shutdown, which also stops its backends).
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                list(command),
                env={**env, **self.marker_env(name)},
                cwd=str(cwd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **popen,
            )
        self._procs[name] = proc
        self.watchdog.record_pid(proc.pid, abandon_signal)
        return proc

    @property
    def names(self) -> list[str]:
        return list(self._procs)

    def process(self, name: str) -> subprocess.Popen[bytes] | None:
        return self._procs.get(name)

    def pid(self, name: str) -> int | None:
        proc = self._procs.get(name)
        return proc.pid if proc is not None and proc.poll() is None else None

    def forget(self, name: str) -> None:
        self._procs.pop(name, None)

    def tree(self, name: str) -> list[Any]:
        """``psutil.Process`` objects of the child and every live descendant."""
        proc = self._procs.get(name)
        if proc is None or proc.poll() is not None:
            return []
        try:
            root = psutil.Process(proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def marked_pids(self, name: str | None = None) -> list[int]:
        """Live processes carrying this stack's marker (and ``name``'s, if given)."""
        found: list[int] = []
        me = os.getpid()
        for proc in psutil.process_iter():
            if proc.pid == me:
                continue
            try:
                environ = proc.environ()
                if environ.get(MARK_STACK) != self.stack_id:
                    continue
                if name is not None and environ.get(MARK_COMPONENT) != name:
                    continue
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
            except (psutil.Error, OSError):
                continue
            found.append(proc.pid)
        return found

    def kill_tree(self, name: str, snapshot: Iterable[Any] = ()) -> None:
        """SIGKILL ``name``, its descendants and its marked stragglers, at once."""
        for process in [*snapshot, *self.tree(name)]:
            with contextlib.suppress(Exception):
                if process.is_running():  # also guards against pid reuse
                    process.kill()
        proc = self._procs.get(name)
        marked = self.marked_pids(name)
        if proc is not None and (proc.poll() is None or marked):
            # A process group id is not reused while the group has members.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for pid in marked:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def wait_gone(self, names: Sequence[str], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            proc = self._procs.get(name)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        while time.monotonic() < deadline:
            if not any(self.marked_pids(name) for name in names):
                return
            time.sleep(0.1)

    def terminate(self, names: Sequence[str], *, sig: int = signal.SIGTERM, grace: float) -> None:
        """Send ``sig`` to each child, wait up to ``grace`` s, then SIGKILL whatever is left."""
        names = [name for name in names if name in self._procs]
        snapshot = [p for name in names for p in self.tree(name)[1:]]  # before any is orphaned
        for name in names:
            proc = self._procs[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
        deadline = time.monotonic() + grace
        for name in names:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._procs[name].wait(timeout=max(0.1, deadline - time.monotonic()))
        for name in names:
            self.kill_tree(name, snapshot)
        self.wait_gone(names, timeout=10.0)

    def sweep(self) -> None:
        """SIGKILL every marked process of this stack still alive, whatever its group."""
        for _ in range(3):
            pids = self.marked_pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.3)
