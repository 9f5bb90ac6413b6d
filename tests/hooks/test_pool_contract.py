"""What ``hooks/pool.py`` relies on in httpcore (and httpx), checked against the installed
releases: a release that changes any of it fails here, before a triggerer finds out.

The pool is kept because it is measured to matter (docs/deploying.md, "HTTP clients and
the connection pool"); pyproject pins httpcore to the 1.0 series it was written for.
"""

from __future__ import annotations

import inspect

import httpcore
import httpx
import pytest

from airflow_provider_i2v.hooks import pool


def test_the_connection_class_takes_what_the_pool_passes() -> None:
    parameters = inspect.signature(httpcore.AsyncHTTPConnection.__init__).parameters
    for name in ("origin", "ssl_context", "keepalive_expiry", "network_backend"):
        assert name in parameters, f"httpcore.AsyncHTTPConnection no longer takes {name}="


@pytest.mark.parametrize("method", ["handle_async_request", "is_idle", "has_expired", "is_closed", "aclose"])
def test_the_connection_has_what_the_pool_calls(method: str) -> None:
    assert callable(getattr(httpcore.AsyncHTTPConnection, method, None))


def test_requests_urls_and_origins_are_built_as_the_pool_builds_them() -> None:
    url = httpcore.URL(scheme=b"http", host=b"127.0.0.1", port=8765, target=b"/x?y=1")
    request = httpcore.Request(method=b"GET", url=url, headers=[(b"Host", b"127.0.0.1")], extensions={})
    origin = request.url.origin
    assert (origin.scheme, origin.host, origin.port) == (b"http", b"127.0.0.1", 8765)
    assert request.extensions == {}


def test_the_exception_table_is_httpxs_own() -> None:
    """The pool maps httpcore's exceptions as httpx's transport does: same pairs, none missing."""
    from httpx._transports import default

    load = getattr(default, "_load_httpcore_exceptions", None)  # httpx >= 0.28
    theirs = load() if load is not None else dict(default.HTTPCORE_EXC_MAP)
    ours = dict(pool._EXCEPTIONS)
    assert ours == theirs
    # The most specific match must win: every subclass comes before its base in our table.
    order = [source for source, _ in pool._EXCEPTIONS]
    for i, source in enumerate(order):
        for later in order[i + 1 :]:
            assert not issubclass(later, source) or later is source, f"{later} is shadowed by {source}"


def test_a_mapped_exception_is_an_httpx_transport_error() -> None:
    mapped = pool._as_httpx(httpcore.ReadTimeout("slow"))
    assert isinstance(mapped, httpx.ReadTimeout)
    assert str(mapped) == "slow"
