"""Fixtures for the simulator's own tests: one real server per session, reset per test.

Every test talks to the simulator over real HTTP (httpx against uvicorn on loopback);
the in-process ``Simulator`` is used only to arrange state and to read the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_i2v.protocol import auth_header
from airflow_provider_i2v.simulator import SimConfig, Simulator, SimulatorServer

from .helpers import API_KEY

#: Fast and fault-free; a test changes what it exercises.
BASE_CONFIG: dict[str, Any] = dict(seed=7, generation_seconds=0.3, slow_seconds=0.3, retry_after=0.5)


@pytest.fixture(scope="session")
def sim_server() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimConfig(**BASE_CONFIG)) as server:
        yield server


@pytest.fixture
def server(sim_server: SimulatorServer) -> SimulatorServer:
    sim_server.simulator.reset(SimConfig(**BASE_CONFIG))
    return sim_server


@pytest.fixture
def sim(server: SimulatorServer) -> Simulator:
    return server.simulator


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=5.0) as http:
        yield http


@pytest.fixture
def control(server: SimulatorServer) -> Iterator[httpx.Client]:
    """A client without credentials: the ``/_sim/`` endpoints need none."""
    with httpx.Client(base_url=server.url, timeout=5.0) as http:
        yield http
