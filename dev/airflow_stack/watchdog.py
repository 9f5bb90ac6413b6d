"""Stops a stack's processes when the Python process that started them dies first.

``stop()`` and ``atexit`` cover the orderly ends of a test session (failures, Ctrl-C);
they cannot run after a SIGKILL or a crash of the test process. The watchdog is a small
separate process that blocks on a pipe whose only write end the parent holds: when the
parent is gone, however it died, the read returns and the watchdog stops, in this order,
the pids recorded in its ledger (each with its own signal: PostgreSQL's immediate
shutdown stops its backends too), every process that carries the stack's marker in its
environment (SIGKILL), and then deletes the temporary directories recorded there.

A recorded pid is signalled only if its kernel start time still matches, so a pid reused
by an unrelated process is never touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_SCRIPT = r"""
import os, shutil, signal, sys, time
marker, fd, ledger = sys.argv[1].encode(), int(sys.argv[2]), sys.argv[3]
while True:
    try:
        if not os.read(fd, 1024):
            break
    except InterruptedError:
        continue
    except OSError:
        break
def started(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None
try:
    with open(ledger) as fh:
        entries = [line.split(" ", 2) for line in fh.read().splitlines() if line]
except OSError:
    entries = []
pids = [(int(a), b, int(c)) for a, b, c in entries if a != "dir"]
for pid, start, sig in pids:
    if started(pid) == start:
        os.kill(pid, sig)
deadline = time.monotonic() + 5
while time.monotonic() < deadline and any(started(p) == s for p, s, _ in pids):
    time.sleep(0.1)
me = os.getpid()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    found = [p for p, s, _ in pids if started(p) == s]
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
for kind, _, path in entries:
    if kind == "dir":
        shutil.rmtree(path, ignore_errors=True)
try:
    os.unlink(ledger)
except OSError:
    pass
"""


def start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of ``/proc/PID/stat``), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class Watchdog:
    """One per stack; a no-op where there is no ``/proc`` (not Linux)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker  # "NAME=value", as it appears in /proc/PID/environ
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd: int | None = None
        self._ledger: Path | None = None

    def start(self) -> None:
        if self._proc is not None or not Path("/proc/self/environ").exists():
            return
        handle, ledger = tempfile.mkstemp(prefix="airflow-stack-", suffix=".watchdog")
        os.close(handle)
        self._ledger = Path(ledger)
        read_fd, write_fd = os.pipe()  # both non-inheritable: no child ever holds write_fd
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _SCRIPT, self.marker, str(read_fd), ledger],
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
        self._fd = write_fd

    def record_pid(self, pid: int, sig: int) -> None:
        """Signal ``pid`` with ``sig`` if this process dies first."""
        self._append(f"{pid} {start_time(pid)} {int(sig)}")

    def record_dir(self, path: Path) -> None:
        """Delete ``path`` if this process dies first."""
        self._append(f"dir 0 {path}")

    def stop(self, *, orderly: bool = True) -> None:
        """Let the watchdog go.

        After an orderly stop its ledger is emptied first, and it finds nothing left to do.
        A stop that did not finish (a second Ctrl-C, an error) hands the rest to it: it
        stops whatever of the ledger still runs and deletes the directories, on its own.
        """
        if orderly and self._ledger is not None:
            with contextlib.suppress(OSError):
                self._ledger.write_text("")
        if self._fd is not None:
            os.close(self._fd)  # EOF: the watchdog wakes up
            self._fd = None
        if self._proc is not None and orderly:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=30)
        self._proc = None
        if orderly and self._ledger is not None:
            self._ledger.unlink(missing_ok=True)
        self._ledger = None

    def _append(self, line: str) -> None:
        if self._ledger is not None:
            with self._ledger.open("a") as fh:
                fh.write(line + "\n")
