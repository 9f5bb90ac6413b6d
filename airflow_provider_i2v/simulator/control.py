"""The control plane under ``/_sim/``: the simulator's config, record and clock over HTTP.

For whoever cannot hold the :class:`~.app.Simulator` object: a simulator in another
process (the CLI under an Airflow end-to-end test, the demo). No auth, never faulted,
never recorded: it is not part of the gateway being simulated.

* ``GET /_sim/health`` -> ``{"ok": true}``
* ``GET /_sim/config`` -> every config field; ``POST /_sim/config`` with some of them
  -> the new config (400 ``{"message"}`` naming a bad field; nothing changes then)
* ``GET /_sim/stats`` -> counters; ``POST /_sim/reset`` -> the counters after reset
* ``GET /_sim/requests[?since=SEQ]`` -> ``{"requests": [record, ...]}``
* ``GET /_sim/generations`` -> ``{"generations": [{"id", "model", "created_at", "state",
  "polls", "fail_code"}, ...]}``
* ``POST /_sim/advance`` ``{"seconds": N}`` -> ``{"offset": total}``
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from airflow_provider_i2v.protocol import render_error

from . import asgi
from .asgi import Receive, Scope, Send

if TYPE_CHECKING:
    from .config import SimConfig
    from .generations import Generation
    from .record import RequestRecord

CONTROL_PREFIX = "/_sim/"
_MAX_BODY_BYTES = 1024 * 1024


class Simulator(Protocol):
    """What the control plane asks of the simulator (the app passes itself; no import of it here)."""

    @property
    def config(self) -> SimConfig: ...

    @property
    def requests(self) -> list[RequestRecord]: ...

    @property
    def generations(self) -> list[Generation]: ...

    def configure(self, **changes: Any) -> SimConfig: ...

    def stats(self) -> dict[str, Any]: ...

    def clock(self) -> float: ...

    def reset(self) -> None: ...

    def advance(self, seconds: float) -> float: ...


async def serve_control(sim: Simulator, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one ``/_sim/...`` request."""
    body, _ = await asgi.read_body(receive, _MAX_BODY_BYTES)
    route = (scope["method"], scope["path"][len(CONTROL_PREFIX) :].rstrip("/"))
    try:
        payload = _answer(sim, route, body, scope.get("query_string", b""))
    except (ValueError, TypeError) as exc:
        await asgi.respond_json(send, 400, render_error(str(exc)))
        return
    if payload is None:
        await asgi.respond_json(send, 404, render_error(f"{route[0]} {scope['path']}: no such endpoint"))
        return
    await asgi.respond_json(send, 200, payload)


def _answer(sim: Simulator, route: tuple[str, str], body: bytes, query: bytes) -> dict[str, Any] | None:
    if route == ("GET", "health"):
        return {"ok": True}
    if route == ("GET", "config"):
        return sim.config.to_dict()
    if route == ("POST", "config"):
        return sim.configure(**_json_object(body)).to_dict()
    if route == ("GET", "stats"):
        return sim.stats()
    if route == ("GET", "requests"):
        since = int(parse_qs(query.decode("latin-1")).get("since", ["0"])[0])
        return {"requests": [record.to_dict() for record in sim.requests if record.seq > since]}
    if route == ("GET", "generations"):
        now = sim.clock()
        return {"generations": [generation.to_dict(now) for generation in sim.generations]}
    if route == ("POST", "reset"):
        sim.reset()
        return sim.stats()
    if route == ("POST", "advance"):
        seconds = _json_object(body).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise ValueError("'seconds' must be a number")
        return {"offset": sim.advance(float(seconds))}
    return None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise ValueError("the body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload
