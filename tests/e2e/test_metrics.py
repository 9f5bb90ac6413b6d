"""The provider's metrics on real Airflow: each arrives, over StatsD on loopback, from the
process that should emit it (the worker's task process or the triggerer), with the values of
the run (docs/metrics.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_i2v import metrics

if TYPE_CHECKING:
    from dev.airflow_stack import AirflowStack
    from tests.e2e.statsd import Datagram, StatsdListener

pytestmark = pytest.mark.e2e

DAG_ID = "e2e_metrics"
DAG = """
from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_i2v.operators.i2v import ImageToVideoBatchOperator, ImageToVideoOperator


@dag(dag_id="__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def metrics():
    ImageToVideoOperator(
        task_id="single", first_frame_image="__IMAGE__", prompt="{{ run_id }}", poll_interval=0.5
    )
    ImageToVideoBatchOperator(
        task_id="batch", images=["__IMAGE__", "__IMAGE__"], prompt="batch {{ run_id }}", poll_interval=0.5
    )


metrics()
"""


def _sum(lines: list[Datagram], name: str) -> int:
    """The total of counter ``name`` (``airflow.<name>:<n>|c``)."""
    wanted = f"airflow.{name}:"
    return sum(int(d.line[len(wanted) :].split("|")[0]) for d in lines if d.line.startswith(wanted))


def _from(lines: list[Datagram], name: str) -> set[str]:
    """Which components sent metric ``name`` ("triggerer" or "worker")."""
    wanted = f"airflow.{name}:"
    return {"triggerer" if "triggerer" in d.sender else "worker" for d in lines if d.line.startswith(wanted)}


def test_each_metric_arrives_from_its_process_with_the_runs_values(
    airflow_stack: AirflowStack,
    write_dag: Callable[[str, str], Path],
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    i2v_connection: str,
    statsd_listener: StatsdListener,
) -> None:
    from airflow_provider_i2v.simulator import sample_url

    e2e_simulator.configure(generation_seconds=3)
    before = len(statsd_listener.received)
    image = sample_url(e2e_simulator_server.url)
    write_dag(DAG_ID, DAG.replace("__DAG_ID__", DAG_ID).replace("__IMAGE__", image))
    run = airflow_stack.client.run_dag(DAG_ID, timeout=240)
    assert run["state"] == "success"
    model = "minimax_i2v_01_live"
    deadline = time.monotonic() + 20  # UDP: what was sent arrives within moments
    while time.monotonic() < deadline:
        lines = statsd_listener.received[before:]
        if _sum(lines, metrics.GENERATIONS_COMPLETED) >= 3 and _sum(lines, metrics.BATCH_ITEMS) >= 2:
            break
        time.sleep(0.5)
    lines = [d for d in statsd_listener.received[before:] if d.line.startswith("airflow.i2v.")]
    assert all(d.sender for d in lines)  # every sender was found
    assert e2e_simulator.creations == 3
    # The worker: one creation, completion and cost per generation, each also under its model.
    assert _sum(lines, metrics.GENERATIONS_CREATED) == 3
    assert _sum(lines, f"{metrics.GENERATIONS_CREATED}.{model}") == 3
    assert _sum(lines, metrics.GENERATIONS_COMPLETED) == 3
    assert _sum(lines, metrics.COST) == 3 * 280_000  # 0.2800 USD each, in micro-dollars
    assert _sum(lines, f"{metrics.BATCH_ITEMS}.completed") == 2
    assert _sum(lines, metrics.GENERATIONS_FAILED) == 0
    assert any(d.line.startswith(f"airflow.{metrics.RENDER_TIME}:") and d.line.endswith("|ms") for d in lines)
    for name in (
        metrics.GENERATIONS_CREATED,
        metrics.GENERATIONS_COMPLETED,
        metrics.COST,
        metrics.BATCH_ITEMS,
    ):
        assert _from(lines, name) == {"worker"}, name
    # The triggerer: the polls of both triggers and the live gauge, up and back down to zero.
    assert _sum(lines, metrics.POLLS) >= 3
    assert "triggerer" in _from(lines, metrics.POLLS)
    live = [d for d in lines if d.line.startswith(f"airflow.{metrics.LIVE}:")]
    assert "triggerer" in {"triggerer" if "triggerer" in d.sender else "worker" for d in live}
    assert sum(int(d.line.split(":")[1].split("|")[0]) for d in live) == 0
