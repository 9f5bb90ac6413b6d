"""A thousand concurrent keep-alive pollers: the simulator must not be the bottleneck.

The clients are spread over many ``AsyncClient`` pools of 10 connections: httpcore
assigns requests to connections in O(pool size) per request, so one pool of 1000 is
itself the bottleneck (measured: tens of seconds), while the server alone answers
1000 connections x 3 polls in about half a second.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from airflow_provider_i2v.protocol import auth_header, poll_path
from airflow_provider_i2v.simulator import Fault, SimConfig, SimulatorServer

from .helpers import API_KEY, create

CLIENTS = 1000
POLLS_EACH = 3
POOL_SIZE = 10


@pytest.mark.scale  # a load test: the scale tier (make scale), not every unit run
@pytest.mark.timeout(300)
def test_a_thousand_concurrent_keep_alive_pollers() -> None:
    # The first poll of every client is held 1 s, so all 1000 requests are in flight
    # at once and the pool must open 1000 connections; later polls reuse them.
    config = SimConfig(
        seed=1,
        generation_seconds=3600,
        slow_seconds=1.0,
        faults=(Fault(kind="slow", scope="poll", first_n=CLIENTS),),
    )
    with SimulatorServer(config) as server:
        with httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=10) as sync_client:
            generation_id = create(sync_client)["id"]

        async def poller(client: httpx.AsyncClient) -> list[int]:
            statuses = []
            for _ in range(POLLS_EACH):
                response = await client.get(poll_path(generation_id))
                statuses.append(response.status_code)
            return statuses

        async def run() -> list[list[int]]:
            limits = httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE)
            pools = [
                httpx.AsyncClient(
                    base_url=server.url, headers=auth_header(API_KEY), limits=limits, timeout=30
                )
                for _ in range(CLIENTS // POOL_SIZE)
            ]
            try:
                return await asyncio.wait_for(
                    asyncio.gather(*(poller(pools[i % len(pools)]) for i in range(CLIENTS))), timeout=240
                )
            finally:
                await asyncio.gather(*(pool.aclose() for pool in pools))

        results = asyncio.run(run())  # bounded, but not timed: speed is the benchmarks' job

        sim = server.simulator
        polls = [r for r in sim.requests if r.endpoint == "poll"]
        assert all(statuses == [200] * POLLS_EACH for statuses in results)
        assert len(polls) == CLIENTS * POLLS_EACH
        assert sum(r.fault == "slow" for r in polls) == CLIENTS
        connections = {r.client for r in polls}
        assert len(connections) == CLIENTS  # 1000 concurrent connections, each kept alive
