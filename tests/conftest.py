"""Shared fixtures: an in-process gateway simulator over real HTTP, an ``i2v`` connection
pointing at it, and the two edges of a task's runtime context a unit test needs (a TI
that records XCom pushes, and a ``task_state_store``: :mod:`dev.task_runtime`)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_i2v.testing import TEST_API_KEY as API_KEY  # one key for all tests
from dev.task_runtime import DictStateStore, RecordingTI, make_context

__all__ = ["API_KEY", "DictStateStore", "RecordingTI", "connection_uri", "make_context", "simulator_base_url"]
EXAMPLE_DAGS = Path(__file__).resolve().parents[1] / "example_dags"

_SESSION_ENV = pytest.StashKey[tuple[pytest.MonkeyPatch, Path]]()


def pytest_configure(config: pytest.Config) -> None:
    """Airflow's settings for this test process, for the whole session (undone at its end).

    Set before collection because Airflow reads them when it is first imported: a throw-away
    ``AIRFLOW_HOME`` (nothing in a developer's own Airflow home is read or written; the
    ``dag.test()`` runs migrate a database there), the example DAGs as the DAG folder, and no
    Airflow example DAGs. Unit tests resolve connections from ``AIRFLOW_CONN_*`` variables
    they set themselves. The real-Airflow stacks of the end-to-end tests drop every
    ``AIRFLOW_*`` variable and get their own home.
    """
    home = Path(tempfile.mkdtemp(prefix="i2v-tests-airflow-home-"))
    patch = pytest.MonkeyPatch()
    patch.setenv("AIRFLOW_HOME", str(home))
    patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(EXAMPLE_DAGS))
    patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    config.stash[_SESSION_ENV] = (patch, home)


def pytest_unconfigure(config: pytest.Config) -> None:
    patch, home = config.stash[_SESSION_ENV]
    patch.undo()
    shutil.rmtree(home, ignore_errors=True)


#: Per-test bound of an end-to-end test without its own ``@pytest.mark.timeout`` (the first
#: one also starts the session's Airflow); unit tests keep pyproject's 60 s.
E2E_TIMEOUT = 600


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[Any]:
    from airflow_provider_i2v.simulator import SimulatorServer

    server = SimulatorServer()
    server.start()
    _SERVER_URL[:] = [server.url]
    yield server
    server.stop()


def fast_simulator() -> Any:
    """The unit tests' simulator config: 0.05 s renders, quick Retry-After, seeded."""
    from airflow_provider_i2v.simulator import SimConfig

    return SimConfig(generation_seconds=0.05, retry_after=0.05, seed=7)


@pytest.fixture
def simulator(simulator_server: Any) -> Iterator[Any]:
    """The shared simulator, reset to a fast, fault-free configuration for each test."""
    sim = simulator_server.simulator
    sim.reset(fast_simulator())
    return sim


def connection_uri(url: str, **extra: Any) -> str:
    from airflow_provider_i2v.testing import simulator_connection

    return json.dumps(simulator_connection(url, **extra))


_SERVER_URL: list[str] = []


def simulator_base_url() -> str:
    """The session simulator's URL (for tests that build their own connection)."""
    return _SERVER_URL[0]


@pytest.fixture
def i2v_conn(simulator_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """``i2v_default`` pointing at the simulator, with back-off shrunk for fast tests."""
    from airflow_provider_i2v.hooks import transport

    transport.reset_shared_state()
    monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", connection_uri(simulator_server.url))
    return "i2v_default"
