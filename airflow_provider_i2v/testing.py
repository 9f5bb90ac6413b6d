"""A pytest plugin for testing your own DAGs offline against the gateway simulator.

Installed with the provider (entry point ``pytest11``): the fixtures below are available
in every test of a project that has ``airflow-provider-i2v[simulator]`` installed. Loading
the plugin imports nothing heavy (no Airflow, no uvicorn); a fixture starts the simulator
only when a test asks for it.

* ``i2v_simulator_config``: the :class:`~airflow_provider_i2v.simulator.SimConfig` the
  simulator starts with (fast renders, a fixed seed); override it in your ``conftest.py``.
* ``i2v_simulator``: a running :class:`~airflow_provider_i2v.simulator.SimulatorServer`
  (``.url``, ``.simulator`` with its request record: ``.creations``, ``.requests``,
  ``.stats()``; ``.simulator.configure(...)`` changes it mid-test).
* ``i2v_default_connection``: the ``i2v_default`` connection pointing at it (as the
  environment variable ``AIRFLOW_CONN_I2V_DEFAULT``, undone after the test), with short
  back-offs so that injected faults cost milliseconds; returns the connection id.

See docs/testing.md for an example that runs a DAG with ``dag.test()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_i2v.simulator import SimConfig, SimulatorServer

#: The key the simulator is started with; any non-empty key is accepted unless the config
#: lists ``api_keys``.
TEST_API_KEY = "i2v-test-key"
#: A connection's extras for tests against the simulator: quick back-off, a short time-out,
#: and outputs on loopback allowed (the simulator serves its videos there).
SIMULATOR_EXTRAS = {
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "timeout": 10,
    "allow_private_outputs": True,
}


def simulator_connection(url: str, **extra: object) -> dict[str, object]:
    """An ``i2v`` connection (as ``AIRFLOW_CONN_...`` JSON takes it) to a simulator at ``url``."""
    return {"conn_type": "i2v", "host": url, "password": TEST_API_KEY, "extra": {**SIMULATOR_EXTRAS, **extra}}


@pytest.fixture
def i2v_simulator_config() -> SimConfig:
    """Renders of 0.5 s, seeded: fast and reproducible. Override to change any knob."""
    from airflow_provider_i2v.simulator import SimConfig

    return SimConfig(generation_seconds=0.5, retry_after=0.05, seed=0)


@pytest.fixture
def i2v_simulator(i2v_simulator_config: SimConfig) -> Iterator[SimulatorServer]:
    """A gateway simulator on a free loopback port for the test's duration."""
    from airflow_provider_i2v.simulator import SimulatorServer

    with SimulatorServer(i2v_simulator_config) as server:
        yield server


@pytest.fixture
def i2v_default_connection(i2v_simulator: SimulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """``i2v_default`` pointing at :func:`i2v_simulator`; returns ``"i2v_default"``."""
    from airflow_provider_i2v.hooks.settings import DEFAULT_CONN_ID

    connection = simulator_connection(i2v_simulator.url)
    monkeypatch.setenv(f"AIRFLOW_CONN_{DEFAULT_CONN_ID.upper()}", json.dumps(connection))
    return DEFAULT_CONN_ID
