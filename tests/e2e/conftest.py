"""End-to-end fixtures: a real Airflow and a gateway simulator, over real HTTP.

* ``airflow_mode`` (session): the deployment this session runs on, ``sqlite`` (default),
  ``postgres`` or ``celery`` (``--airflow-mode=...`` or ``I2V_E2E_MODE``; see
  :mod:`dev.airflow_stack.modes`). Every test below runs in whichever is chosen.
* ``airflow_stack`` (session): one running :class:`dev.airflow_stack.AirflowStack`
  of that mode whose DAG folder is ``e2e_dags_folder``; write DAG files there with
  ``write_dag`` (they are picked up within a few seconds) and drive them with
  ``airflow_stack.client``.
* ``airflow_stack_factory`` (session): ``make(dags_folder=..., env=..., **kwargs)`` starts
  another stack, of the session's mode unless ``mode=`` says otherwise (stopped at the end
  of the session, or earlier with ``stack.stop()``).
* ``e2e_simulator_server`` (session) / ``e2e_simulator`` (per test, reset): an in-process
  simulator; ``i2v_connection`` points ``i2v_default`` of the session stack at it.

Everything is skipped, with the reason, when Airflow (or, for the simulator fixtures, the
simulator) cannot be imported, or when this machine cannot run the chosen mode (no
PostgreSQL server binaries, no redis-server ...; with ``I2V_E2E_REQUIRE_MODE=1`` that fails
instead). Every test in this folder is marked ``e2e``.
"""

from __future__ import annotations

import importlib.util
import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from dev.airflow_stack import AirflowStack, Mode
    from tests.e2e.statsd import StatsdListener

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Set (CI does) to fail instead of skipping when this machine cannot run the chosen mode.
REQUIRE_MODE_ENV = "I2V_E2E_REQUIRE_MODE"
E2E_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/e2e is an ``e2e`` test, marked or not."""
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _skip_reason() -> str | None:
    # find_spec only: importing Airflow here would load its config into the test process.
    try:
        found = importlib.util.find_spec("airflow") is not None
    except (ImportError, ValueError):  # pragma: no cover - a broken installation
        found = False
    if not found:
        return "apache-airflow is not installed in this Python environment"
    return None


@pytest.fixture(scope="session")
def airflow_available() -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def airflow_mode(airflow_available: None, pytestconfig: pytest.Config) -> Mode:
    """The session's deployment mode; skips every e2e test when this machine cannot run it."""
    from dev.airflow_stack import unavailable_reason
    from dev.airflow_stack.pytest_plugin import session_mode

    mode = session_mode(pytestconfig)
    reason = unavailable_reason(mode)
    if reason and os.environ.get(REQUIRE_MODE_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason} (and ${REQUIRE_MODE_ENV} is set: CI must run this mode)", pytrace=False)
    if reason:
        pytest.skip(reason)
    return mode


@pytest.fixture(scope="session")
def airflow_stack_factory(
    airflow_mode: Mode, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., AirflowStack]]:
    """Start extra stacks: ``make(dags_folder=None, env=None, **AirflowStack kwargs)``."""
    from dev.airflow_stack import AirflowStack

    stacks: list[AirflowStack] = []

    def make(
        dags_folder: str | Path | None = None, env: dict[str, str] | None = None, **kwargs: Any
    ) -> AirflowStack:
        folder = Path(dags_folder) if dags_folder is not None else tmp_path_factory.mktemp("dags")
        kwargs.setdefault("home", tmp_path_factory.mktemp("airflow-home"))
        kwargs.setdefault("pythonpath", [REPO_ROOT])
        kwargs.setdefault("mode", airflow_mode)
        stack = AirflowStack(folder, env=env, **kwargs)
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in reversed(stacks):
        stack.stop()


@pytest.fixture(scope="session")
def e2e_dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session stack's DAG folder (initially empty)."""
    return tmp_path_factory.mktemp("e2e-dags")


@pytest.fixture(scope="session")
def statsd_listener() -> Iterator[StatsdListener]:
    """A StatsD server on loopback that the session's Airflow sends its metrics to."""
    from tests.e2e.statsd import StatsdListener

    with StatsdListener() as listener:
        yield listener


@pytest.fixture(scope="session")
def airflow_stack(
    airflow_stack_factory: Callable[..., AirflowStack], e2e_dags_folder: Path, statsd_listener: StatsdListener
) -> AirflowStack:
    """The session's running Airflow (its logs: ``airflow_stack.logs``), its metrics sent to
    :func:`statsd_listener`."""
    metrics = {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd_listener.port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
    }
    return airflow_stack_factory(e2e_dags_folder, env=metrics)


@pytest.fixture(scope="session")
def write_dag(e2e_dags_folder: Path) -> Callable[[str, str], Path]:
    """``write_dag("name", source)`` writes ``name.py`` (dedented) into the session DAG folder."""

    def write(name: str, source: str) -> Path:
        path = e2e_dags_folder / f"{name}.py"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(textwrap.dedent(source), encoding="utf-8")
        tmp.replace(path)  # the dag-processor never sees a half-written file
        return path

    return write


@pytest.fixture(scope="session")
def e2e_simulator_server() -> Iterator[Any]:
    """An in-process gateway simulator (real HTTP on loopback) for the whole session."""
    try:
        from airflow_provider_i2v.simulator import SimulatorServer
    except ImportError as exc:
        pytest.skip(f"the simulator is not available: {exc}")
    server = SimulatorServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def e2e_simulator(e2e_simulator_server: Any) -> Iterator[Any]:
    """The session simulator, reset to its default config before and after each test."""
    from airflow_provider_i2v.simulator import SimConfig

    sim = e2e_simulator_server.simulator
    sim.reset(SimConfig())
    yield sim
    sim.reset(SimConfig())


@pytest.fixture
def i2v_connection(airflow_stack: AirflowStack, e2e_simulator_server: Any) -> str:
    """``i2v_default`` in the session stack's metadata DB, pointing at the simulator."""
    airflow_stack.client.set_connection(
        "i2v_default",
        "i2v",
        host=e2e_simulator_server.url,
        password="e2e-test-key",
        extra={"allow_private_outputs": True},  # the simulator serves its videos on loopback
    )
    return "i2v_default"
