"""A StatsD listener on loopback for the end-to-end tests: every datagram, and which process sent it.

StatsD datagrams carry no sender identity; the sender's UDP port does. While a datagram is
fresh its sending process is alive, so the listener maps the port to the process through
``/proc/net/udp`` (socket inode) and ``/proc/<pid>/fd`` (Linux only), and keeps the sender's
command line beside each line: a test can then say which Airflow component emitted a metric.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Datagram:
    line: str
    #: The sending process's command line ("" when it could not be found).
    sender: str


@dataclass
class StatsdListener:
    """``with StatsdListener() as listener:``; ``listener.port``, ``listener.lines(prefix)``."""

    limit: int = 200_000
    received: list[Datagram] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._senders: dict[int, str] = {}
        self._thread = threading.Thread(target=self._run, name="statsd-listener", daemon=True)

    def __enter__(self) -> StatsdListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._socket.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, (_, port) = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            sender = self._senders.get(port) or _process_of_udp_port(port)
            self._senders[port] = sender
            for line in data.decode("utf-8", errors="replace").splitlines():
                if len(self.received) < self.limit:
                    self.received.append(Datagram(line, sender))

    def lines(self, prefix: str) -> list[Datagram]:
        return [d for d in list(self.received) if d.line.startswith(prefix)]


def _process_of_udp_port(port: int) -> str:
    """The command line of the process owning the UDP socket bound to ``port`` ("" if unknown)."""
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cells = row.split()
            if len(cells) > 9 and int(cells[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cells[9])
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in wanted for fd in fds):
                return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
    return ""
