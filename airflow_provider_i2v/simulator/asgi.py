"""Bare ASGI plumbing: read a body, send an answer, and misbehave at the socket level.

The simulator is a plain ASGI callable (no framework): its routes are few and a
poll must cost little, because benchmarks put a thousand pollers on it.

Dropping a connection without an answer cannot be said in ASGI: an application
that returns without answering gets a 500 from the server. Under uvicorn the
``send`` callable is a bound method of the connection's request/response cycle,
which holds the asyncio transport; :func:`drop_connection` reaches it there and
closes it (``FIN``: httpx raises ``RemoteProtocolError`` "Server disconnected
without sending a response") or aborts it with ``SO_LINGER`` 0 (``RST``: httpx
raises ``ReadError`` "Connection reset by peer"). If the transport cannot be
found (another server, a future uvicorn), it falls back to announcing a body and
sending none, which the server ends by closing the connection: the client still
sees a protocol error (``RemoteProtocolError`` "peer closed connection without
sending complete message body"), never a clean answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip as gzip_format
import json
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_TYPE = "application/json"
_DISCONNECT_WAIT_SECONDS = 2.0
_CHUNK = 64 * 1024


class _Transport(Protocol):
    def close(self) -> None: ...
    def abort(self) -> None: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header ``name`` (lower-case bytes), decoded as latin-1."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def headers_named(scope: Scope, names: Iterable[str]) -> dict[str, str]:
    """The request's headers among ``names`` (lower case), each by its first value."""
    wanted = {name.encode("latin-1") for name in names}
    found: dict[str, str] = {}
    for key, value in scope.get("headers", ()):
        name = bytes(key).lower()
        if name in wanted:
            found.setdefault(name.decode("latin-1"), bytes(value).decode("latin-1"))
    return found


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value admits gzip (``gzip``, ``gzip;q=0.5``; not ``q=0``)."""
    for part in (accept_encoding or "").split(","):
        coding, *params = (item.strip() for item in part.split(";"))
        if coding.lower() in ("gzip", "x-gzip"):
            weight = next((item[2:] for item in params if item.lower().startswith("q=")), "1")
            try:
                return float(weight) > 0
            except ValueError:
                return False
    return False


#: What a gzip-encoded answer carries besides its body.
_GZIP_HEADERS = (("content-encoding", "gzip"), ("vary", "accept-encoding"))


def _encoded(body: bytes, gzip: bool) -> tuple[bytes, tuple[tuple[str, str], ...]]:
    """``body`` as sent: gzip-compressed (no timestamp: the same bytes every time) or as is."""
    if not gzip:
        return body, ()
    return gzip_format.compress(body, mtime=0), _GZIP_HEADERS


def dumps(payload: Any) -> bytes:
    """Compact JSON, as a gateway sends it."""
    return json.dumps(payload, separators=(",", ":")).encode()


async def read_body(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The whole request body, or ``(b"", True)`` when it exceeds ``limit`` (drained anyway)."""
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            too_large = True
            chunks.clear()
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return (b"", True) if too_large else (b"".join(chunks), False)


def _headers(content_type: str | None, length: int | None, extra: Iterable[tuple[str, str]]) -> Headers:
    headers: Headers = []
    if content_type is not None:
        headers.append((b"content-type", content_type.encode("latin-1")))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    headers.extend((name.encode("latin-1"), value.encode("latin-1")) for name, value in extra)
    return headers


async def respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: str | None = JSON_TYPE,
    headers: Iterable[tuple[str, str]] = (),
    head_only: bool = False,
    gzip: bool = False,
) -> None:
    """A complete answer with a correct Content-Length (a HEAD gets the headers only)."""
    body, encoding = _encoded(body, gzip)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(content_type, len(body), (*headers, *encoding)),
        }
    )
    await send({"type": "http.response.body", "body": b"" if head_only else body})


async def respond_json(
    send: Send, status: int, payload: Any, *, headers: Iterable[tuple[str, str]] = (), gzip: bool = False
) -> None:
    await respond(send, status, dumps(payload), headers=headers, gzip=gzip)


async def respond_stream(
    send: Send, status: int, body: bytes, *, content_type: str, head_only: bool = False
) -> None:
    """A large answer in chunks, so one download does not hold the loop for long."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(content_type, len(body), ()),
        }
    )
    if head_only:
        await send({"type": "http.response.body", "body": b""})
        return
    view = memoryview(body)
    for start in range(0, len(body), _CHUNK):
        end = start + _CHUNK
        await send(
            {"type": "http.response.body", "body": bytes(view[start:end]), "more_body": end < len(body)}
        )
    if not body:
        await send({"type": "http.response.body", "body": b""})


async def respond_huge(
    send: Send, total: int, *, chunked: bool, prefix: bytes, suffix: bytes, gzip: bool = False
) -> None:
    """A 200 JSON body of ``total`` bytes (``prefix``, blank filler, ``suffix``), streamed.

    The JSON is valid, so only a client that caps what it reads is protected from
    it; with ``chunked`` there is no Content-Length to refuse it by in advance. With
    ``gzip`` the ``total`` bytes are what the client gets *after* decoding: a few KiB
    on the wire (blanks compress ~1000:1), so only a cap on the decoded size helps.
    """
    total = max(total, len(prefix) + len(suffix))
    pieces: Iterable[bytes] = _huge_pieces(total, prefix, suffix)
    length: int | None = total
    if gzip:
        pieces = list(_gzipped(pieces))
        length = sum(len(piece) for piece in pieces)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": _headers(JSON_TYPE, None if chunked else length, _GZIP_HEADERS if gzip else ()),
        }
    )
    for piece in pieces:
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _huge_pieces(total: int, prefix: bytes, suffix: bytes) -> Iterator[bytes]:
    filler = b" " * _CHUNK
    yield prefix
    remaining = total - len(prefix) - len(suffix)
    while remaining > 0:
        piece = filler[: min(_CHUNK, remaining)]
        remaining -= len(piece)
        yield piece
    yield suffix


def _gzipped(pieces: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: the gzip container
    for piece in pieces:
        packed = compressor.compress(piece)
        if packed:
            yield packed
    yield compressor.flush()


def _transport(send: Send) -> _Transport | None:
    """The connection's transport behind uvicorn's ``send`` (see the module docstring)."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not all(hasattr(transport, name) for name in ("close", "abort")):
        return None
    return transport  # type: ignore[no-any-return]


async def _wait_disconnected(receive: Receive) -> None:
    """Let the server notice the closed connection before the app returns (no 500, no log)."""
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        async with asyncio.timeout(_DISCONNECT_WAIT_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass


async def drop_connection(send: Send, receive: Receive, *, reset: bool) -> bool:
    """End the connection without an answer: ``RST`` if ``reset`` else ``FIN``.

    Returns ``False`` when the fallback (an announced but missing body) was used.
    """
    transport = _transport(send)
    if transport is None:
        await send({"type": "http.response.start", "status": 200, "headers": _headers(JSON_TYPE, 1, ())})
        return False
    if reset:
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError, AttributeError, TypeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    await _wait_disconnected(receive)
    return True


async def send_truncated(
    send: Send, receive: Receive, status: int, body: bytes, *, content_type: str, gzip: bool = False
) -> None:
    """Announce ``body``'s full length, send only its first half, then close the connection."""
    body, encoding = _encoded(body, gzip)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _headers(content_type, len(body), encoding),
        }
    )
    part = body[: len(body) // 2]
    await send({"type": "http.response.body", "body": part, "more_body": True})
    transport = _transport(send)
    if transport is not None:
        transport.close()
        await _wait_disconnected(receive)
    # Without the transport, returning now leaves the answer incomplete and uvicorn
    # closes the connection itself (logging that the app did not finish): same effect.
