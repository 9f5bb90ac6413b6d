"""The async connection pool: keep-alive HTTP/1.1 connections reused last-in first-out, O(1).

httpx's default transport hands every request to httpcore's ``AsyncConnectionPool``,
which scans *all* its connections twice per request (an expiry check with a ``poll()``
system call per idle connection, and an idle count that is itself a scan of the pool:
O(pool²)). With the 32 connections a burst of trigger start-ups opens, that scan cost
more CPU than the rest of a poll together (benchmarks/README.md: 4.4 ms a poll at 32
connections against 1.8 ms at 4). A triggerer polls thousands of generations, so this
transport keeps the connections on a stack instead:

* a request takes the most recently used idle connection (one expiry check: is it past
  its keep-alive, has the server closed it?) or opens a new one below the bound, or waits
  (first come, first served) until one is released or the pool timeout passes;
* a response releases its connection when its body is closed; the oldest idle
  connection is closed once its keep-alive has expired, so the pool shrinks back to what
  the polls need at once.

The HTTP/1.1 work itself is httpcore's (``AsyncHTTPConnection``), the request and response
objects and exceptions are httpx's, so the hooks see exactly what httpx's own transport
gives them. Proxies are left to httpx's transport (:mod:`.clients` decides).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx

#: httpcore's exceptions as httpx's (the table httpx's own transport applies); the most
#: specific match wins.
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _as_httpx(exc: Exception) -> Exception:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(str(exc))
    return exc


class _Body(httpx.AsyncByteStream):
    """A response body that gives its connection back to the pool when it is closed."""

    __slots__ = ("_connection", "_origin", "_pool", "_stream")

    def __init__(
        self, stream: Any, pool: LifoPool, origin: httpcore.Origin, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._origin = origin
        self._connection: httpcore.AsyncHTTPConnection | None = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            mapped = _as_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await self._stream.aclose()
        finally:
            self._pool.release(self._origin, connection)


class LifoPool(httpx.AsyncBaseTransport):
    """An httpx transport over at most ``max_connections`` keep-alive connections, reused
    last-in first-out (see the module docstring). One per event loop: not thread-safe."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None,
        max_connections: int,
        keepalive_expiry: float,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self._max = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._backend = network_backend
        #: Idle connections by origin (httpcore's Origin is not hashable: its parts are the key).
        self._idle: dict[tuple[bytes, bytes, int], collections.deque[httpcore.AsyncHTTPConnection]] = {}
        self._open = 0  # connections idle or in use
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        return self._open

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):  # httpcore's Origin would raise a bare KeyError
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]
            extensions=request.extensions,
        )
        timeouts = request.extensions.get("timeout") or {}
        origin = core_request.url.origin
        connection = await self._acquire(origin, timeouts.get("pool"))
        try:
            response = await connection.handle_async_request(core_request)
        except BaseException as exc:
            self.release(origin, connection)
            mapped = _as_httpx(exc) if isinstance(exc, Exception) else exc
            if mapped is exc:
                raise
            raise mapped from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, self, origin, connection),
            extensions=response.extensions,
        )

    async def _acquire(self, origin: httpcore.Origin, patience: float | None) -> httpcore.AsyncHTTPConnection:
        while True:
            idle = self._idle.get((origin.scheme, origin.host, origin.port))
            while idle:
                connection = idle.pop()
                if connection.is_idle() and not connection.has_expired():
                    return connection
                await self._discard(connection)
            if self._open < self._max:
                self._open += 1
                return httpcore.AsyncHTTPConnection(
                    origin,
                    ssl_context=self._ssl_context,
                    keepalive_expiry=self._keepalive_expiry,
                    network_backend=self._backend,
                )
            await self._wait(patience)

    async def _wait(self, patience: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(patience):
                await waiter
        except TimeoutError:
            raise httpx.PoolTimeout("no connection of the pool became free in time") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._wake()  # it was woken but will not use the connection: pass it on
            raise
        finally:
            if not waiter.done():
                waiter.cancel()

    def release(self, origin: httpcore.Origin, connection: httpcore.AsyncHTTPConnection) -> None:
        """Give ``connection`` back: idle on top of its stack, or forgotten if it is not reusable."""
        if connection.is_idle() and not connection.is_closed():
            idle = self._idle.setdefault((origin.scheme, origin.host, origin.port), collections.deque())
            idle.append(connection)
            oldest = idle[0]
            if oldest is not connection and oldest.has_expired():
                idle.popleft()
                self._close_later(oldest)
        elif connection.is_closed():
            self._open -= 1
        else:  # half-used (cancelled mid-answer): close it, never reuse it
            self._close_later(connection)
        self._wake()

    def _close_later(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._open -= 1
        task = asyncio.get_running_loop().create_task(connection.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _discard(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._open -= 1
        await connection.aclose()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                self._open -= 1
                await connection.aclose()


__all__ = ["LifoPool"]
