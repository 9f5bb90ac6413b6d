"""The transport's own decisions that need no gateway: what a mistyped URL scheme means."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_i2v.exceptions import I2VConnectionConfigError, I2VCreationUncertainError
from airflow_provider_i2v.hooks.interpret import Call
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.hooks.transport import request_async, request_sync, reset_shared_state
from airflow_provider_i2v.protocol import CREATE_PATH, GenerationRequest, poll_path
from tests.http_server import counting_proxy

CREATE = Call("POST", "/model/v1/generation", json={}, creates=True, label="create")


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    reset_shared_state()
    yield
    reset_shared_state()


@pytest.mark.parametrize("base_url", ["htps://127.0.0.1:9", "ftp://127.0.0.1:9"])
def test_a_mistyped_scheme_is_a_configuration_error_not_an_uncertain_create(base_url: str) -> None:
    """Nothing left the machine: saying "a generation may have been paid for" would be false.
    (``from_connection`` already refuses such a URL; settings built in code reach this.)"""
    settings = ConnectionSettings(base_url=base_url, api_key="k", backoff_initial=0)
    with pytest.raises(I2VConnectionConfigError, match="Nothing was sent") as caught:
        request_sync(settings, CREATE)
    assert not isinstance(caught.value, I2VCreationUncertainError)
    with pytest.raises(I2VConnectionConfigError, match="Nothing was sent"):
        asyncio.run(request_async(settings, CREATE))


def test_the_environments_proxy_carries_gateway_calls_sync_and_async(
    simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY/HTTP_PROXY apply to the gateway as httpx applies them (a tiny proxy on
    loopback answers for a gateway name that is not loopback: nothing leaves the machine)."""
    from tests.conftest import API_KEY, simulator_base_url

    request = GenerationRequest(first_frame_image="https://images.example.com/cat.jpg")
    settings = ConnectionSettings.from_connection(
        "http://gateway.example.test", API_KEY, {"backoff_initial": 0}
    )
    with counting_proxy(simulator_base_url()) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        reset_shared_state()
        created = request_sync(settings, Call("POST", CREATE_PATH, json=request.to_body(), creates=True))
        poll = Call("GET", poll_path(created.generation_id), generation_id=created.generation_id)
        polled = asyncio.run(request_async(settings, poll))
        assert proxy.requests == [
            f"http://gateway.example.test{CREATE_PATH}",
            f"http://gateway.example.test{poll_path(created.generation_id)}",
        ]
    assert polled.generation_id == created.generation_id
    monkeypatch.delenv("HTTP_PROXY")
    reset_shared_state()


def test_behind_an_environment_proxy_the_async_client_uses_httpxs_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_provider_i2v.hooks import clients
    from airflow_provider_i2v.hooks.pool import LifoPool

    async def transport() -> Any:
        return clients.async_client(
            ConnectionSettings(base_url="http://gw.example.test", api_key="k")
        )._transport

    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    assert not isinstance(asyncio.run(transport()), LifoPool)
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.delenv("https_proxy", raising=False)
    reset_shared_state()
    assert isinstance(asyncio.run(transport()), LifoPool)
