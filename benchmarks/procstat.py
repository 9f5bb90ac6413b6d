"""CPU time and memory of other processes, read from ``/proc`` (Linux).

CPU is ``utime + stime`` of ``/proc/PID/stat`` (clock ticks, usually 10 ms), so a figure
is only meaningful over a window of many seconds; RSS is ``VmRSS`` of ``/proc/PID/status``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (its own threads, not children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_bytes(pid: int) -> int:
    """Resident set size of the process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def children(pid: int) -> list[int]:
    """Direct children of a process."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()


@dataclass
class CpuWindow:
    """CPU seconds of some processes between :meth:`start` and :meth:`stop`."""

    pids: dict[str, int]

    def __post_init__(self) -> None:
        self._start: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self) -> dict[str, float]:
        self.seconds = {name: cpu_seconds(pid) - self._start[name] for name, pid in self.pids.items()}
        return self.seconds


def load_average() -> float:
    """The machine's one-minute load average."""
    return os.getloadavg()[0]
