"""The shared HTTP clients: one per process and connection (and, for async, per event loop).

Building an ``httpx.AsyncClient`` costs ~18 ms of CPU; a keep-alive poll ~1 ms. So
clients are cached per (event loop, base URL, options) and shared by every hook,
trigger and operator of the process. The API key is sent per request, never held
by a shared client.

The async client (the triggerer's) runs over :class:`~.pool.LifoPool`, whose cost per
request does not grow with the number of open connections; behind a proxy it uses
httpx's own transport.

Proxies: the connection's ``proxy`` extra, when set, carries every request (gateway,
image URL checks, output downloads). Without it the environment's ``HTTPS_PROXY``,
``HTTP_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` apply as httpx reads them, except to
loopback addresses, which no proxy can reach on the worker's behalf.

Third-party URLs (an image to check, an output to copy) go through :func:`fetch_client`:
the same timeouts, TLS and proxy rules, no base URL, no key, and no redirect followed
by httpx (the callers follow them hop by hop, each hop checked).

The connection itself is resolved once per event loop and connection id too
(:func:`shared_settings`): on a triggerer every look-up is a round trip through the
supervisor process, and a thousand triggers starting together would otherwise queue a
thousand of them before their first poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import httpx

from airflow_provider_i2v import __version__
from airflow_provider_i2v.exceptions import I2VConnectionConfigError
from airflow_provider_i2v.hooks.pool import LifoPool
from airflow_provider_i2v.hooks.settings import ConnectionSettings

USER_AGENT = f"airflow-provider-i2v/{__version__} httpx/{httpx.__version__}"
#: Connections per shared blocking client (a worker makes one request at a time).
POOL_CONNECTIONS = 32
#: Connections per shared async client. A poll holds one for the answer's round trip, so
#: what is needed at once is polls per second x latency: 3,000 generations polled every
#: 10 s through a gateway answering in 200 ms hold about 60. The LIFO pool reuses the
#: most recent connection, so on a fast network only a few are ever opened.
ASYNC_POOL_CONNECTIONS = 64
#: Seconds an idle keep-alive connection is kept.
KEEPALIVE_EXPIRY = 60.0
#: Seconds a resolved connection is reused by the triggers of one event loop (an edited
#: connection, a rotated key, is seen within this long; a refused key at once).
SETTINGS_MAX_AGE = 300.0

_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)
_lock = threading.Lock()
_sync_clients: dict[tuple[Any, ...], httpx.Client] = {}
_async_clients: dict[tuple[int, tuple[Any, ...]], tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}
_fetch_clients: dict[tuple[Any, ...], httpx.Client] = {}
_SettingsEntry = tuple[asyncio.AbstractEventLoop, float, "asyncio.Task[ConnectionSettings]"]
_async_settings: dict[tuple[int, str], _SettingsEntry] = {}


#: Loopback hosts an environment proxy never carries (it cannot reach this machine's).
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


def environment_proxies() -> dict[str, str]:
    """The proxy variables of the environment that httpx would use (``http``, ``https``, ``all``)."""
    found = urllib.request.getproxies()
    return {scheme: found[scheme] for scheme in ("http", "https", "all") if found.get(scheme)}


def proxy_options(settings: ConnectionSettings) -> dict[str, Any]:
    """The connection's ``proxy`` for everything, or else the environment's (loopback direct)."""
    if settings.proxy:
        return {"proxy": settings.proxy, "trust_env": False}
    return {"proxy": None, "trust_env": True, "mounts": {f"all://{host}": None for host in _LOOPBACK}}


def client_options(settings: ConnectionSettings) -> dict[str, Any]:
    """What every gateway client is built with (proxy, TLS, timeout, pool bound, headers)."""
    return {
        "base_url": settings.base_url,
        "timeout": httpx.Timeout(settings.timeout),
        "verify": ssl_context(settings),
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        "limits": httpx.Limits(
            max_connections=POOL_CONNECTIONS,
            max_keepalive_connections=POOL_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        ),
        "follow_redirects": False,
        **proxy_options(settings),
    }


def fetch_options(settings: ConnectionSettings) -> dict[str, Any]:
    """What a client for third-party URLs (images, outputs) is built with: the gateway
    client's timeouts, TLS and proxy rules, without base URL, key or redirects."""
    return {
        "timeout": httpx.Timeout(settings.timeout),
        "verify": ssl_context(settings, tls=True),
        "headers": {"User-Agent": USER_AGENT, "Accept": "*/*"},
        "limits": httpx.Limits(
            max_connections=POOL_CONNECTIONS,
            max_keepalive_connections=POOL_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        ),
        "follow_redirects": False,
        **proxy_options(settings),
    }


def build(
    factory: Callable[..., _Client],
    settings: ConnectionSettings,
    options: Callable[[ConnectionSettings], dict[str, Any]] = client_options,
    **overrides: Any,
) -> _Client:
    """Build a client; options that cannot work (a missing CA bundle, an unsupported proxy
    scheme) are a configuration error no retry can fix."""
    try:
        return factory(**{**options(settings), **overrides})
    except (OSError, ImportError, ValueError, TypeError) as exc:
        raise I2VConnectionConfigError(
            f"cannot build an HTTP client from the connection's verify_ssl/proxy settings: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def ssl_context(settings: ConnectionSettings, *, tls: bool = False) -> ssl.SSLContext:
    """What httpx makes of ``verify_ssl`` (certifi's bundle, no verification, or a CA file or
    directory), built only when TLS can be used (``tls=True``: always).

    Loading the CA bundle costs 20-40 ms of CPU in every task process; a plain ``http://``
    gateway (the simulator, a gateway behind a TLS-terminating proxy) without an ``https``
    proxy never negotiates TLS (redirects are not followed), so it gets a context with no
    CA at all: should TLS ever be attempted with it, verification fails closed.
    """
    import certifi

    proxies = [settings.proxy] if settings.proxy else list(environment_proxies().values())
    tls = (
        tls
        or settings.base_url.startswith("https:")
        or any(proxy.startswith("https:") for proxy in proxies if proxy)
    )
    verify = settings.verify
    if not tls:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify is True:
        return ssl.create_default_context(cafile=certifi.where())
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


def _async_client(**options: Any) -> httpx.AsyncClient:
    """An async client over the LIFO pool, unless a proxy may apply (httpx's transport then
    routes each request through the proxy, or not, as the settings and NO_PROXY say)."""
    if not options.get("proxy") and not environment_proxies():
        options["transport"] = LifoPool(
            ssl_context=options["verify"],
            max_connections=ASYNC_POOL_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
    return httpx.AsyncClient(**options)


def sync_client(settings: ConnectionSettings) -> httpx.Client:
    """The process-wide blocking client for these settings."""
    with _lock:
        client = _sync_clients.get(settings.client_key)
        if client is None or client.is_closed:
            client = build(httpx.Client, settings)
            _sync_clients[settings.client_key] = client
        return client


def fetch_client(settings: ConnectionSettings) -> httpx.Client:
    """The process-wide blocking client for third-party URLs (see :func:`fetch_options`)."""
    with _lock:
        client = _fetch_clients.get(settings.fetch_key)
        if client is None or client.is_closed:
            client = build(httpx.Client, settings, fetch_options)
            _fetch_clients[settings.fetch_key] = client
        return client


#: Redirects followed for a third-party URL (an image, an output file).
MAX_REDIRECTS = 5


@contextlib.contextmanager
def open_url(
    settings: ConnectionSettings,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    check_hop: Callable[[httpx.URL], None] | None = None,
    max_redirects: int = MAX_REDIRECTS,
    deadline: float | None = None,
) -> Iterator[httpx.Response]:
    """``GET url`` through :func:`fetch_client`, following at most ``max_redirects`` redirects.

    Each hop's URL is given to ``check_hop`` before anything is sent to it (it raises to
    refuse that hop). Yields the final answer unread (stream it), closed on exit. A
    redirect to a scheme other than http(s) is ``httpx.UnsupportedProtocol``; one
    redirect too many is ``httpx.TooManyRedirects``. With a ``deadline``
    (``time.monotonic()``), no hop waits past it (``httpx.TimeoutException``).
    """
    client = fetch_client(settings)
    target = httpx.URL(url)
    for _ in range(max_redirects + 1):
        if target.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"a redirect leads to {target.scheme}://, not http(s)")
        if check_hop is not None:
            check_hop(target)
        timeout: Any = httpx.USE_CLIENT_DEFAULT
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpx.TimeoutException("no time left for the next redirect")
            timeout = httpx.Timeout(min(settings.timeout, left))
        request = client.build_request("GET", target, headers=headers, timeout=timeout)
        response = client.send(request, stream=True)
        location = response.headers.get("Location")
        if response.is_redirect and location:
            response.close()
            target = target.join(location)
            continue
        try:
            yield response
        finally:
            response.close()
        return
    raise httpx.TooManyRedirects(f"more than {max_redirects} redirects")


def async_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    """The async client for these settings on the running event loop (one per loop)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), settings.client_key)
    entry = _async_clients.get(key)  # the hot path: one dict lookup, no lock
    if entry is not None and entry[0] is loop and not entry[1].is_closed:
        return entry[1]
    with _lock:
        # Forget clients of loops that are gone (tests and `airflow dags test` make many loops).
        for stale in [k for k, (lp, _) in _async_clients.items() if lp.is_closed()]:
            del _async_clients[stale]
        client = build(_async_client, settings)
        _async_clients[key] = (loop, client)
        return client


async def shared_settings(
    conn_id: str,
    resolve: Callable[[], Coroutine[Any, Any, ConnectionSettings]],
    *,
    stale: ConnectionSettings | None = None,
) -> ConnectionSettings:
    """Connection ``conn_id`` resolved by ``resolve()`` once for every caller on this event loop.

    Callers arriving while it is being resolved wait for that one resolution (a cancelled
    caller does not cancel it); a failed resolution is not kept, so the next caller tries
    again. The result is reused for :data:`SETTINGS_MAX_AGE` seconds. ``stale``: settings
    the gateway refused (the key may have been rotated): resolved anew, once, however many
    callers say so.
    """
    loop = asyncio.get_running_loop()
    key = (id(loop), conn_id)
    entry = _async_settings.get(key)  # the hot path: one lookup, a done task
    now = loop.time()
    if (
        entry is None
        or entry[0] is not loop
        or now - entry[1] > SETTINGS_MAX_AGE
        or (stale is not None and _result(entry[2]) is stale)
    ):
        for gone in [k for k, (lp, _, _) in _async_settings.items() if lp.is_closed()]:
            del _async_settings[gone]
        task: asyncio.Task[ConnectionSettings] = loop.create_task(resolve(), name=f"resolve {conn_id}")
        entry = (loop, now, task)
        _async_settings[key] = entry
        task.add_done_callback(lambda done: _forget_failure(key, done))
    task = entry[2]
    if task.done():
        return task.result()
    return await asyncio.shield(task)


def _result(task: asyncio.Task[ConnectionSettings]) -> ConnectionSettings | None:
    if not task.done() or task.cancelled() or task.exception() is not None:
        return None
    return task.result()


def _forget_failure(key: tuple[int, str], task: asyncio.Task[ConnectionSettings]) -> None:
    entry = _async_settings.get(key)
    if entry is not None and entry[2] is task and (task.cancelled() or task.exception() is not None):
        del _async_settings[key]


def reset_clients() -> None:
    """Forget cached clients and connections (for tests; open clients are left to the
    garbage collector)."""
    with _lock:
        _sync_clients.clear()
        _fetch_clients.clear()
        _async_clients.clear()
        _async_settings.clear()
