"""The async client's LIFO connection pool, against the in-process simulator over real HTTP."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest

from airflow_provider_i2v.hooks import clients
from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.hooks.pool import LifoPool
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.protocol import GenerationRequest, auth_header, poll_path
from airflow_provider_i2v.simulator import Fault, SimConfig, SimulatorServer
from tests.conftest import API_KEY, fast_simulator

REQUEST = GenerationRequest(first_frame_image="https://images.example.com/cat.jpg")


@pytest.fixture
def i2v_simulator_config() -> SimConfig:
    """The provider's pytest plugin's simulator, with the unit tests' fast renders."""
    config: SimConfig = fast_simulator()
    return config


@pytest.fixture
def server(i2v_simulator: SimulatorServer, i2v_default_connection: str) -> SimulatorServer:
    """A simulator of the test's own (the plugin's ``i2v_simulator``), ``i2v_default``
    pointing at it: these tests count the connections the simulator saw, and the session's
    shared one may still hear a late poll of an earlier test (its generation ids repeat:
    each test reseeds it)."""
    from airflow_provider_i2v.hooks import transport

    transport.reset_shared_state()
    return i2v_simulator


def client(url: str, **pool: Any) -> httpx.AsyncClient:
    pool.setdefault("max_connections", 4)
    pool.setdefault("keepalive_expiry", 60.0)
    return httpx.AsyncClient(base_url=url, transport=LifoPool(ssl_context=None, **pool))


async def poll(c: httpx.AsyncClient, generation_id: str, **kwargs: Any) -> int:
    response = await c.get(poll_path(generation_id), headers=auth_header(API_KEY), **kwargs)
    return response.status_code


def connections(sim: Any, generation_id: str) -> set[str]:
    """Client ``host:port`` of the polls for ``generation_id`` the simulator answered: one per
    TCP connection."""
    return {str(r.client) for r in sim.requests if r.endpoint == "poll" and r.generation_id == generation_id}


def test_sequential_requests_reuse_one_connection(server: SimulatorServer) -> None:
    simulator = server.simulator
    generation_id = I2VHook().create_generation(REQUEST).generation_id

    async def run() -> list[int]:
        async with client(server.url) as c:
            return [await poll(c, generation_id) for _ in range(5)]

    assert asyncio.run(run()) == [200] * 5
    assert len(connections(simulator, generation_id)) == 1


def test_concurrent_requests_never_open_more_than_the_bound(server: SimulatorServer) -> None:
    simulator = server.simulator
    generation_id = I2VHook().create_generation(REQUEST).generation_id
    simulator.configure(slow_seconds=0.1, faults=[Fault("slow", scope="poll")])

    async def run() -> tuple[list[int], int]:
        async with client(server.url, max_connections=2) as c:
            codes = await asyncio.gather(*(poll(c, generation_id) for _ in range(8)))
            assert isinstance(c._transport, LifoPool)
            return list(codes), c._transport.open_connections

    codes, still_open = asyncio.run(run())
    assert codes == [200] * 8
    assert len(connections(simulator, generation_id)) == 2
    assert still_open == 2  # both kept alive for the next polls


def test_a_full_pool_times_out_as_httpx_does(server: SimulatorServer) -> None:
    simulator = server.simulator
    generation_id = I2VHook().create_generation(REQUEST).generation_id
    simulator.configure(slow_seconds=1.0, faults=[Fault("slow", first_n=1, scope="poll")])

    async def run() -> None:
        async with client(server.url, max_connections=1) as c:
            held = asyncio.create_task(poll(c, generation_id))
            await asyncio.sleep(0.2)  # the slow answer holds the only connection
            with pytest.raises(httpx.PoolTimeout):
                await poll(c, generation_id, timeout=httpx.Timeout(5.0, pool=0.1))
            assert await held == 200

    asyncio.run(run())


def test_a_cancelled_request_gives_its_connection_back(server: SimulatorServer) -> None:
    simulator = server.simulator
    generation_id = I2VHook().create_generation(REQUEST).generation_id
    simulator.configure(slow_seconds=5.0, faults=[Fault("slow", first_n=1, scope="poll")])

    async def run() -> int:
        async with client(server.url, max_connections=1) as c:
            stuck = asyncio.create_task(poll(c, generation_id))
            await asyncio.sleep(0.2)
            stuck.cancel()
            with pytest.raises(asyncio.CancelledError):
                await stuck
            return await asyncio.wait_for(poll(c, generation_id), 3)  # not waiting for a lost slot

    assert asyncio.run(run()) == 200


def test_an_expired_connection_is_not_reused(server: SimulatorServer) -> None:
    simulator = server.simulator
    generation_id = I2VHook().create_generation(REQUEST).generation_id

    async def run() -> None:
        async with client(server.url, keepalive_expiry=0.05) as c:
            await poll(c, generation_id)
            await asyncio.sleep(0.2)
            await poll(c, generation_id)

    asyncio.run(run())
    polls = [(r.seq, r.at, r.client, r.status) for r in simulator.requests if r.endpoint == "poll"]
    assert len(connections(simulator, generation_id)) == 2, polls


def test_a_connection_the_server_dropped_is_not_reused(server: SimulatorServer) -> None:
    simulator = server.simulator
    generation_id = I2VHook().create_generation(REQUEST).generation_id

    async def run() -> list[int]:
        async with client(server.url) as c:
            first = await poll(c, generation_id)
            simulator.configure(faults=[Fault("drop", first_n=1, scope="poll")])
            with pytest.raises(httpx.RemoteProtocolError):
                await poll(c, generation_id)  # the server closes the connection without answering
            return [first, await poll(c, generation_id)]

    assert asyncio.run(run()) == [200, 200]


def test_transport_failures_are_httpx_exceptions() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed

    async def run() -> None:
        async with client(f"http://127.0.0.1:{port}") as c:
            with pytest.raises(httpx.ConnectError):
                await poll(c, "nosuchgeneration0000")

    asyncio.run(run())


def test_the_async_client_runs_over_the_lifo_pool_unless_there_is_a_proxy() -> None:
    async def transports() -> tuple[Any, Any]:
        direct = clients.async_client(ConnectionSettings(base_url="http://127.0.0.1:9", api_key="k"))
        proxied = clients.async_client(
            ConnectionSettings(base_url="http://127.0.0.1:9", api_key="k", proxy="http://127.0.0.1:3128")
        )
        return direct._transport, proxied._transport

    direct, proxied = asyncio.run(transports())
    assert isinstance(direct, LifoPool)
    assert not isinstance(proxied, LifoPool)
