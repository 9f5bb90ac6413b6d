"""The connection shared by every trigger of an event loop (``clients.shared_settings``)."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_i2v.exceptions import I2VConnectionConfigError
from airflow_provider_i2v.hooks import clients
from airflow_provider_i2v.hooks.settings import ConnectionSettings


class Resolver:
    """Counts resolutions; each one takes ``delay`` seconds and returns fresh settings."""

    def __init__(self, delay: float = 0.05, fail: int = 0) -> None:
        self.calls = 0
        self.delay = delay
        self.fail = fail

    async def __call__(self) -> ConnectionSettings:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.calls <= self.fail:
            raise I2VConnectionConfigError("no such connection (yet)")
        return ConnectionSettings(base_url="http://gateway.invalid", api_key=f"key-{self.calls}")


@pytest.fixture(autouse=True)
def _fresh() -> None:
    clients.reset_clients()


def test_concurrent_callers_share_one_resolution() -> None:
    resolve = Resolver()

    async def run() -> list[ConnectionSettings]:
        return list(await asyncio.gather(*(clients.shared_settings("c", resolve) for _ in range(50))))

    results = asyncio.run(run())
    assert resolve.calls == 1
    assert all(r is results[0] for r in results)


def test_a_failed_resolution_is_not_kept() -> None:
    resolve = Resolver(fail=1)

    async def run() -> ConnectionSettings:
        with pytest.raises(I2VConnectionConfigError):
            await clients.shared_settings("c", resolve)
        await asyncio.sleep(0)  # the failed resolution is forgotten
        return await clients.shared_settings("c", resolve)

    assert asyncio.run(run()).api_key == "key-2"


def test_a_cancelled_caller_does_not_cancel_the_resolution_others_wait_for() -> None:
    resolve = Resolver(delay=0.2)

    async def run() -> ConnectionSettings:
        first = asyncio.create_task(clients.shared_settings("c", resolve))
        second = asyncio.create_task(clients.shared_settings("c", resolve))
        await asyncio.sleep(0.05)
        first.cancel()
        return await second

    assert asyncio.run(run()).api_key == "key-1"
    assert resolve.calls == 1


def test_a_refused_key_is_resolved_again_once_however_many_say_so() -> None:
    resolve = Resolver()

    async def run() -> list[ConnectionSettings]:
        old = await clients.shared_settings("c", resolve)
        return list(
            await asyncio.gather(*(clients.shared_settings("c", resolve, stale=old) for _ in range(20)))
        )

    fresh = asyncio.run(run())
    assert resolve.calls == 2
    assert {s.api_key for s in fresh} == {"key-2"}


def test_settings_are_reused_only_for_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve = Resolver(delay=0)
    monkeypatch.setattr(clients, "SETTINGS_MAX_AGE", 0.05)

    async def run() -> tuple[str, str, str]:
        a = await clients.shared_settings("c", resolve)
        b = await clients.shared_settings("c", resolve)
        await asyncio.sleep(0.1)
        c = await clients.shared_settings("c", resolve)
        return a.api_key, b.api_key, c.api_key

    assert asyncio.run(run()) == ("key-1", "key-1", "key-2")


def test_each_event_loop_and_connection_id_resolves_its_own() -> None:
    resolve = Resolver(delay=0)

    async def run() -> tuple[str, str]:
        a = await clients.shared_settings("a", resolve)
        b = await clients.shared_settings("b", resolve)
        return a.api_key, b.api_key

    assert asyncio.run(run()) == ("key-1", "key-2")
    assert asyncio.run(run()) == ("key-3", "key-4")  # a new loop (a new triggerer run) resolves again


@pytest.mark.parametrize(
    ("base_url", "proxy", "loads_ca"),
    [
        ("http://127.0.0.1:8765", None, False),
        ("http://127.0.0.1:8765", "http://proxy.internal:3128", False),
        ("http://127.0.0.1:8765", "https://proxy.internal:3128", True),
        ("https://cloud.vtrix.ai", None, True),
    ],
)
def test_a_ca_bundle_is_loaded_only_where_tls_can_happen(
    monkeypatch: pytest.MonkeyPatch, base_url: str, proxy: str | None, loads_ca: bool
) -> None:
    import ssl

    loaded: list[object] = []
    real = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        loaded.append(kwargs)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    context = clients.ssl_context(ConnectionSettings(base_url=base_url, api_key="k", proxy=proxy))
    assert bool(loaded) is loads_ca
    # Whatever happens, an unverified TLS connection is never the default.
    assert context.verify_mode == ssl.CERT_REQUIRED
