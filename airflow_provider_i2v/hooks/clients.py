"""The shared HTTP clients: one per process and connection (and, for async, per event loop).

Building an ``httpx.AsyncClient`` costs ~18 ms of CPU; a keep-alive poll ~1 ms. So
clients are cached per (event loop, base URL, options) and shared by every hook,
trigger and operator of the process. The API key is sent per request, never held
by a shared client.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from airflow_provider_i2v import __version__
from airflow_provider_i2v.exceptions import I2VConnectionConfigError
from airflow_provider_i2v.hooks.settings import ConnectionSettings

USER_AGENT = f"airflow-provider-i2v/{__version__} httpx/{httpx.__version__}"
#: Connections per shared client. httpcore assigns each request by scanning its pool, so a
#: pool as large as the number of triggers makes every poll O(triggers); a bounded pool
#: keeps a poll cheap, and a poll takes milliseconds, so few connections serve thousands
#: of triggers polling every few seconds.
POOL_CONNECTIONS = 32

_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)
_lock = threading.Lock()
_sync_clients: dict[tuple[Any, ...], httpx.Client] = {}
_async_clients: dict[tuple[int, tuple[Any, ...]], tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}


def client_options(settings: ConnectionSettings) -> dict[str, Any]:
    """What every gateway client is built with (proxy, TLS, timeout, pool bound, headers)."""
    return {
        "base_url": settings.base_url,
        "timeout": httpx.Timeout(settings.timeout),
        "verify": settings.verify,
        "proxy": settings.proxy,
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        "limits": httpx.Limits(
            max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS, keepalive_expiry=60
        ),
        "follow_redirects": False,
        "trust_env": False,
    }


def build(factory: Callable[..., _Client], settings: ConnectionSettings, **overrides: Any) -> _Client:
    """Build a client; options that cannot work (a missing CA bundle, an unsupported proxy
    scheme) are a configuration error no retry can fix."""
    try:
        return factory(**{**client_options(settings), **overrides})
    except (OSError, ImportError, ValueError, TypeError) as exc:
        raise I2VConnectionConfigError(
            f"cannot build an HTTP client from the connection's verify_ssl/proxy settings: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def sync_client(settings: ConnectionSettings) -> httpx.Client:
    """The process-wide blocking client for these settings."""
    with _lock:
        client = _sync_clients.get(settings.client_key)
        if client is None or client.is_closed:
            client = build(httpx.Client, settings)
            _sync_clients[settings.client_key] = client
        return client


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
        client = build(httpx.AsyncClient, settings)
        _async_clients[key] = (loop, client)
        return client


def reset_clients() -> None:
    """Forget cached clients (for tests; open clients are left to the garbage collector)."""
    with _lock:
        _sync_clients.clear()
        _async_clients.clear()
