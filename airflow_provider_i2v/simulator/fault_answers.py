"""How each fault kind turns into an answer, a late answer, or a connection without one.

The gateway handlers decide *what* the answer is; this module decides what a fault
does to it, at the stage its kind acts at (:class:`~.faults.Stage`):

* ``INSTEAD`` (``http_NNN``, ``reset``, ``drop``): :meth:`Reply.instead`, before auth
  and before any work, so nothing is created;
* ``DELAY`` (``slow``): :meth:`Reply.hold`, after the work (a create has created),
  before the answer or the refusal; a client that gives up meanwhile is recorded so;
* ``BODY`` (``malformed_json``, ``truncated_body``, ``huge_body``, ``missing_id``,
  ``lost_create_answer``): :meth:`Reply.answer` and :meth:`Reply.file`, in place of a
  *successful* answer only; a refused request gets its refusal (:meth:`Reply.refuse`)
  and is recorded without the fault.

Every answer is recorded (:meth:`Exchange.commit`) just before it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import json
import time
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.protocol import THROTTLED_STATUS, render_error

from . import asgi
from .asgi import Receive, Send
from .config import ERROR_BODY_STYLES, MALFORMED_STYLES, ROTATE, SimConfig
from .faults import Fault, FaultKind, Stage
from .record import Exchange

#: What the gateway documents (or a proxy in front of it would say) for each status.
_MESSAGES = {
    401: "API key is missing or invalid",
    402: "Insufficient credits",
    403: "Insufficient balance or permission denied",
    429: "Rate limit exceeded",
    500: "Internal server error",
}
#: Statuses whose faulted answers carry ``Retry-After``.
_RETRY_AFTER_STATUSES = frozenset({THROTTLED_STATUS, 503})


class Abandoned(Exception):
    """The request ends without an answer (its client left, or the server is stopping)."""


class FaultBodies:
    """The bodies faulted answers carry, taking turns when their style is ``rotate``."""

    def __init__(self) -> None:
        self._turns = {"error": 0, "malformed": 0}

    def reset(self) -> None:
        self._turns = dict.fromkeys(self._turns, 0)

    def _style(self, chosen: str, styles: tuple[str, ...], turn: str) -> str:
        if chosen != ROTATE:
            return chosen
        index = self._turns[turn]
        self._turns[turn] = index + 1
        return styles[index % len(styles)]

    def error_body(self, config: SimConfig, status: int) -> tuple[bytes, str]:
        """``(body, content type)`` of a faulted HTTP error, in the configured style."""
        style = self._style(config.error_body, ERROR_BODY_STYLES, "error")
        message = _MESSAGES.get(status) or _phrase(status)
        if style == "text":
            text = f"<html><body><h1>{status} {_phrase(status)}</h1>{message}</body></html>"
            return text.encode(), "text/html; charset=utf-8"
        payload: object = render_error(message)
        if style == "error_string":
            payload = {"error": message}
        elif style == "error_object":
            payload = {"error": render_error(message)}
        return json.dumps(payload).encode(), asgi.JSON_TYPE

    def malformed_body(self, config: SimConfig, generation_id: str | None) -> bytes:
        """A 200 body no client can read as a generation."""
        style = self._style(config.malformed_body, MALFORMED_STYLES, "malformed")
        if style == "html":
            return b"<html><body>upstream sent an invalid response</body></html>"
        if style == "empty":
            return b""
        if style == "not_object":
            return b"[]"
        whole = json.dumps({"id": generation_id or "", "status": config.running_status}).encode()
        return whole[: len(whole) // 2]


def retry_after_header(config: SimConfig, status: int) -> str | None:
    """``Retry-After`` for a faulted 429 or 503: delta-seconds or an HTTP date.

    Seconds are written with ``%g`` so a test may ask for ``0.2`` (not strictly
    RFC 9110, which wants an integer; the provider parses both).
    """
    if status not in _RETRY_AFTER_STATUSES or config.retry_after is None:
        return None
    if config.retry_after_form == "date":
        return email.utils.formatdate(time.time() + config.retry_after, usegmt=True)
    return f"{config.retry_after:g}"


@dataclass
class Reply:
    """How one gateway request is answered, given the fault that hit it (or none)."""

    fault: Fault | None
    config: SimConfig
    bodies: FaultBodies
    send: Send
    receive: Receive
    exchange: Exchange

    def _acts(self, stage: Stage) -> FaultKind | None:
        """The fault's kind if it acts at ``stage``."""
        return self.fault.kind if self.fault is not None and self.fault.kind.stage is stage else None

    async def instead(self) -> bool:
        """Apply an ``INSTEAD`` fault (an HTTP error, a reset, a drop); ``False`` for any other."""
        kind, exchange = self._acts(Stage.INSTEAD), self.exchange
        if kind is None:
            return False
        status = kind.http_status
        if status is None:
            exchange.commit()
            await asgi.drop_connection(self.send, self.receive, reset=kind is FaultKind.RESET)
            return True
        body, content_type = self.bodies.error_body(self.config, status)
        retry_after = retry_after_header(self.config, status)
        headers = [("retry-after", retry_after)] if retry_after is not None else []
        exchange.status = status
        exchange.commit()
        await asgi.respond(
            self.send, status, body, content_type=content_type, headers=headers, gzip=exchange.gzip
        )
        return True

    async def hold(self) -> None:
        """The ``slow`` fault's wait (nothing for any other fault), before the answer is sent.

        The work is already done. If the client closes the connection meanwhile, it
        never gets an answer: the request is recorded so (no status, ``client_gave_up``)
        and :class:`Abandoned` ends the handler. Cut short by a server shutdown, the
        connection is closed without an answer instead of uvicorn logging a cancelled
        application and answering 500.
        """
        if self._acts(Stage.DELAY) is None:
            return
        exchange = self.exchange
        gone = asyncio.ensure_future(_disconnected(self.receive))
        try:
            await asyncio.wait({gone}, timeout=self.config.slow_seconds)
        except asyncio.CancelledError:
            exchange.status = None
            exchange.commit()
            await asgi.drop_connection(self.send, self.receive, reset=False)
            raise Abandoned from None
        finally:
            if not gone.done():
                gone.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gone
        if gone.done() and not gone.cancelled():
            exchange.status = None
            exchange.client_gave_up = True
            exchange.commit()
            raise Abandoned

    async def refuse(self, status: int, message: str) -> None:
        """A genuine refusal (not a fault): the documented ``{"message"}`` body, held if ``slow``."""
        if self._acts(Stage.BODY) is not None:
            self.exchange.fault = None  # body faults only replace successful answers
        await self.hold()
        self.exchange.status = status
        self.exchange.commit()
        await asgi.respond_json(self.send, status, render_error(message), gzip=self.exchange.gzip)

    async def answer(self, payload: dict[str, Any]) -> None:
        """Send a successful JSON answer (held if ``slow``), or what its body fault makes of it."""
        await self.hold()
        kind, exchange, send, config = self._acts(Stage.BODY), self.exchange, self.send, self.config
        if kind is FaultKind.LOST_CREATE_ANSWER:
            exchange.commit()
            await asgi.drop_connection(send, self.receive, reset=True)
            return
        exchange.status = 200
        exchange.answered = kind is None
        exchange.commit()
        gzip = exchange.gzip
        if kind is FaultKind.MALFORMED_JSON:
            await asgi.respond(
                send, 200, self.bodies.malformed_body(config, exchange.generation_id), gzip=gzip
            )
        elif kind is FaultKind.TRUNCATED_BODY:
            body = asgi.dumps(payload)
            await asgi.send_truncated(send, self.receive, 200, body, content_type=asgi.JSON_TYPE, gzip=gzip)
        elif kind is FaultKind.HUGE_BODY:
            prefix = asgi.dumps(payload)[:-1] + b',"padding":"'
            total = int(config.huge_body_mib * 1024 * 1024)
            await asgi.respond_huge(
                send, total, chunked=config.huge_body_chunked, prefix=prefix, suffix=b'"}', gzip=gzip
            )
        else:  # no fault, or missing_id (the handler left the id out)
            await asgi.respond_json(send, 200, payload, gzip=gzip)

    async def file(self, data: bytes, content_type: str) -> None:
        """Send an output file (held if ``slow``; a GET cut short by ``truncated_body``)."""
        await self.hold()
        exchange = self.exchange
        head = exchange.method == "HEAD"
        exchange.status = 200
        if self._acts(Stage.BODY) is FaultKind.TRUNCATED_BODY:
            if not head:
                exchange.commit()
                await asgi.send_truncated(self.send, self.receive, 200, data, content_type=content_type)
                return
            exchange.fault = None  # a HEAD has no body to truncate
        exchange.answered = True
        exchange.commit()
        await asgi.respond_stream(self.send, 200, data, content_type=content_type, head_only=head)


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has closed the connection (the body is already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"
