"""Shared fixtures: an in-process gateway simulator over real HTTP, an ``i2v`` connection
pointing at it, and the two edges of a task's runtime context a unit test needs (a TI
that records XCom pushes, and a ``task_state_store``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

# Unit tests resolve connections from the environment; the metadata database in this home is
# only for the dag.test() runs of the example DAGs (tests/test_example_dags.py).
os.environ.setdefault("AIRFLOW_HOME", os.path.join(os.path.dirname(__file__), ".airflow-home"))
os.environ.setdefault(
    "AIRFLOW__CORE__DAGS_FOLDER", os.path.join(os.path.dirname(__file__), "..", "example_dags")
)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_i2v.testing import TEST_API_KEY as API_KEY


class RecordingTI:
    """The part of a task instance the provider uses: ``xcom_push``."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}
        self.task_id = "generate"
        self.map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))  # XCom values must be JSON


class DictStateStore:
    """``task_state_store`` semantics: JSON values, ``None`` refused, survives across tries."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.rows[key]) if key in self.rows else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("None is not storable")
        self.rows[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)

    def clear(self) -> None:
        self.rows.clear()


def make_context(store: DictStateStore | None = None) -> dict[str, Any]:
    """A fresh try's context; pass the same ``store`` to model a retry of one task instance."""
    return {"ti": RecordingTI(), "task_state_store": store if store is not None else DictStateStore()}


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[Any]:
    from airflow_provider_i2v.simulator import SimulatorServer

    server = SimulatorServer()
    server.start()
    _SERVER_URL[:] = [server.url]
    yield server
    server.stop()


@pytest.fixture
def simulator(simulator_server: Any) -> Iterator[Any]:
    """The shared simulator, reset to a fast, fault-free configuration for each test."""
    from airflow_provider_i2v.simulator import SimConfig

    sim = simulator_server.simulator
    sim.reset(SimConfig(generation_seconds=0.5, retry_after=0.05, seed=7))
    return sim


def connection_uri(url: str, **extra: Any) -> str:
    # allow_private_outputs: the simulator serves its videos on loopback.
    fast = {
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "timeout": 5,
        "allow_private_outputs": True,
        **extra,
    }
    return json.dumps({"conn_type": "i2v", "host": url, "password": API_KEY, "extra": fast})


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
