"""Run a :class:`Simulator` on loopback under uvicorn, in a background thread.

Tests and benchmarks need a real HTTP server they can start in a line and trust to
be listening when ``start()`` returns. The socket is bound here (port 0 picks a free
port, known before the server runs) with a deep listen backlog, and uvicorn gets it
ready-made; ``start()`` returns once uvicorn serves it. uvicorn runs its own event
loop (uvloop and httptools when installed) in its thread through
``asyncio.Runner``, so nothing global (event-loop policy, signal handlers) changes
in the caller's process; its loggers are configured only when asked (the CLI).

Capacity: uvicorn's ``limit_concurrency`` stays unset (no 503s under load), the
backlog is 4096 (>= 2048, so a thousand clients connecting at once are queued, not
refused), and idle keep-alive connections live ``keep_alive_seconds`` (75 s, like
nginx) instead of uvicorn's 5 s, so pollers with long intervals keep their
connection and rarely race a server-side close.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from .app import Simulator
from .config import SimConfig

DEFAULT_BACKLOG = 4096
_START_TIMEOUT_SECONDS = 15.0


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """uvloop's loop when installed (the fast path), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is part of the simulator's stack
        return asyncio.new_event_loop
    return uvloop.new_event_loop


class SimulatorServer:
    """A simulator listening on ``host:port`` until :meth:`stop` (also a context manager)."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        simulator: Simulator | None = None,
        log_level: str = "warning",
        access_log: bool = False,
        configure_logging: bool = False,
        backlog: int = DEFAULT_BACKLOG,
        keep_alive_seconds: int = 75,
        graceful_shutdown_seconds: int = 2,
    ) -> None:
        if simulator is not None and config is not None:
            raise ValueError("pass a config or a simulator, not both")
        self.simulator = simulator if simulator is not None else Simulator(config)
        self.host = host
        self._port = port
        self._log_level = log_level
        self._access_log = access_log
        self._configure_logging = configure_logging
        self._backlog = backlog
        self._keep_alive_seconds = keep_alive_seconds
        self._graceful_shutdown_seconds = graceful_shutdown_seconds
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ shortcuts

    @property
    def config(self) -> SimConfig:
        """The running simulator's live config."""
        return self.simulator.config

    @property
    def port(self) -> int:
        """The port listened on (the one picked, when constructed with port 0)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the simulator, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        if self._thread is None:
            raise RuntimeError("the simulator is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ life cycle

    def start(self) -> SimulatorServer:
        """Bind, serve in a background thread, return once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("the simulator is already started")
        import uvicorn
        from uvicorn.config import LOGGING_CONFIG

        sock = self._bind()
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.simulator,
            host=self.host,
            port=self._port,
            loop="none",
            http="auto",
            lifespan="off",
            interface="asgi3",
            log_config=LOGGING_CONFIG if self._configure_logging else None,
            log_level=self._log_level,
            access_log=self._access_log,
            proxy_headers=False,
            server_header=False,
            backlog=self._backlog,
            limit_concurrency=None,
            timeout_keep_alive=self._keep_alive_seconds,
            timeout_graceful_shutdown=self._graceful_shutdown_seconds,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name=f"i2v-simulator:{self._port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(timeout=1)
                self._thread = None
                sock.close()
                raise RuntimeError(
                    f"the simulator did not start on {self.host}:{self._port}"
                ) from self._error
            time.sleep(0.005)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread; idle connections are closed."""
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():  # requests still running past the graceful period
            server.force_exit = True
            thread.join(timeout)
        self._thread = None
        self._server = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self._port))
            sock.listen(self._backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _serve(self, server: Any, sock: socket.socket) -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # surfaced by start() if it happens before "started"
            self._error = exc
            raise
        finally:
            sock.close()
