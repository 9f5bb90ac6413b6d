"""The simulated gateway as an ASGI application, and the in-process API tests hold.

One :class:`Simulator` is one gateway. It serves the two contract endpoints (paths,
statuses, field names and bodies all come from :mod:`airflow_provider_i2v.protocol`),
its own output files under ``/files/``, and a control plane under ``/_sim/`` (no
auth, never faulted, never recorded). Tests hold the object in-process or drive it
over HTTP; both views are the same :class:`~.state.State`.

This module only routes (:mod:`.routes`) and records; the gateway's handlers are
:mod:`.gateway`, what faults do to answers :mod:`.fault_answers`.
"""

from __future__ import annotations

import time
from typing import Any

from . import asgi
from .asgi import Receive, Scope, Send
from .config import SimConfig
from .control import CONTROL_PREFIX, serve_control
from .fault_answers import Abandoned
from .gateway import Gateway
from .generations import Generation
from .record import RECORDED_HEADERS, Exchange, RequestRecord
from .routes import FILES_PREFIX, file_path, route
from .samples import SAMPLES_PREFIX, serve_sample
from .state import State

__all__ = ["FILES_PREFIX", "Simulator", "file_path"]


class Simulator:
    """The simulated Vtrix gateway (an ASGI callable) and everything it remembers."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self._state = State(config)
        self._gateway = Gateway(self._state)

    # ---------------------------------------------------------------- in-process API

    @property
    def config(self) -> SimConfig:
        """The live config; attribute changes apply to the next request (unvalidated)."""
        return self._state.config

    def configure(self, **changes: Any) -> SimConfig:
        """Validate and apply ``changes`` (config field names); a new ``seed`` reseeds."""
        config = self._state.config.updated(changes)
        self._state.config = config
        if "seed" in changes:
            self._state.reseed()
        return config

    def reset(self, config: SimConfig | None = None) -> None:
        """Forget every generation and record, rewind faults, reseed, undo :meth:`advance`.

        With ``config``, start over under that config (a fresh simulator, same address).
        """
        self._state.reset(config)

    def advance(self, seconds: float) -> float:
        """Move the simulator's clock forward (generations age without a sleep)."""
        if seconds < 0:
            raise ValueError("the simulator's clock only moves forward")
        self._state.offset += seconds
        return self._state.offset

    def clock(self) -> float:
        """The simulator's monotonic clock: ``time.monotonic()`` plus every :meth:`advance`."""
        return self._state.clock()

    @property
    def seed(self) -> int:
        """The seed in use (the configured one, or the one drawn when none was)."""
        return self._state.seed

    @property
    def requests(self) -> list[RequestRecord]:
        """Every gateway request received (oldest first, at most ``record_limit``)."""
        return self._state.recorder.records

    @property
    def creations(self) -> int:
        """How many generations were created (including those whose answer was lost)."""
        return len(self._state.store)

    @property
    def generations(self) -> list[Generation]:
        return self._state.store.all()

    @property
    def generation_ids(self) -> list[str]:
        return [generation.generation_id for generation in self._state.store.all()]

    def generation(self, generation_id: str) -> Generation | None:
        return self._state.store.get(generation_id)

    def stats(self) -> dict[str, Any]:
        """Counters: requests, creates (received/accepted/answered), polls, files, faults."""
        data = self._state.recorder.stats()
        data["generations"] = len(self._state.store)
        data["seed"] = self._state.seed
        return data

    @property
    def render_seconds(self) -> list[float]:
        """How long each of the latest video renderings took (``video_mode`` rendered)."""
        return list(self._state.media.render_seconds)

    # ---------------------------------------------------------------- ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await serve_control(self, scope, receive, send)
            return
        if path.startswith(SAMPLES_PREFIX):
            await serve_sample(scope, send)
            return
        method: str = scope["method"]
        where = route(method, path)
        headers = asgi.headers_named(scope, RECORDED_HEADERS)
        exchange = Exchange(
            recorder=self._state.recorder,
            method=method,
            path=path,
            endpoint=where.endpoint,
            headers=headers,
            client=_client(scope),
            at=time.time(),
            generation_id=where.generation_id,
            gzip=self._state.config.gzip_answers and asgi.accepts_gzip(headers.get("accept-encoding")),
        )
        try:
            await self._gateway.serve(where, scope, receive, send, exchange)
        except Abandoned:
            pass
        finally:
            exchange.commit()


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up; answer the lifespan protocol so any ASGI server is happy."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
