"""Smoke tests of the end-to-end harness itself (no provider code).

A tiny DAG runs on the real stack: a ``@task`` returns a value, and an operator defers to
the triggerer (``TimeDeltaTrigger``) and returns the kwargs it gave ``defer()``. This proves
that the dag-processor parses, the scheduler schedules, the LocalExecutor runs tasks through
the api-server's execution API, the triggerer fires triggers and the REST client reads
states, XCom and logs back. The second test SIGKILLs the triggerer while a task is deferred
and checks a new triggerer resumes it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dev.airflow_stack import AirflowStack, wait_until

pytestmark = pytest.mark.e2e

SMOKE_DAG = '''
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, dag, task


class DeferOnce(BaseOperator):
    """Defers once for ``seconds`` and returns the kwargs it handed to ``defer()``."""

    def __init__(self, *, seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds

    def execute(self, context: Any) -> None:
        self.defer(
            trigger=TimeDeltaTrigger(timedelta(seconds=self.seconds)),
            method_name="resume",
            kwargs={"token": "kept-across-deferral"},
        )

    def resume(self, context: Any, event: Any = None, token: str | None = None) -> dict[str, Any]:
        return {"token": token, "fired": event is not None}


@dag(dag_id="__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def smoke() -> None:
    @task
    def produce(params: dict[str, Any] | None = None, dag_run: Any = None) -> dict[str, Any]:
        return {"answer": 42, "conf": dict(dag_run.conf or {})}

    produce() >> DeferOnce(task_id="wait", seconds=__SECONDS__)


smoke()
'''


def _write(write_dag: Callable[[str, str], Path], dag_id: str, seconds: float) -> None:
    write_dag(dag_id, SMOKE_DAG.replace("__DAG_ID__", dag_id).replace("__SECONDS__", repr(seconds)))


def _wait_for_state(
    stack: AirflowStack, dag_id: str, run_id: str, task_id: str, state: str, timeout: float = 60.0
) -> set[str]:
    """Poll a task instance until it is in ``state``; return every state seen on the way."""
    seen: set[str] = set()

    def reached() -> bool:
        current = stack.client.task_instance(dag_id, run_id, task_id).get("state")
        seen.add(str(current))
        if current in ("failed", "upstream_failed") and state not in ("failed", "upstream_failed"):
            failures = stack.client.describe_failures(dag_id, run_id)
            raise AssertionError(f"{task_id} ended {current}:\n{failures}")
        return current == state

    wait_until(
        reached,
        timeout=timeout,
        interval=0.25,
        description=f"{dag_id}.{task_id} to be {state}",
        details=lambda: f"states seen: {sorted(seen)}",
    )
    return seen


def test_dag_run_defers_and_returns_xcom(airflow_stack: AirflowStack, write_dag: Callable[..., Path]) -> None:
    dag_id = "e2e_smoke"
    _write(write_dag, dag_id, seconds=4)
    api = airflow_stack.client
    started = time.monotonic()

    api.wait_for_dag(dag_id, timeout=90)
    api.unpause(dag_id)
    run_id = api.trigger(dag_id, conf={"colour": "blue"})["dag_run_id"]

    seen = _wait_for_state(airflow_stack, dag_id, run_id, "wait", "deferred", timeout=90)
    run = api.wait_for_run(dag_id, run_id, timeout=120, interval=0.5)

    assert run["state"] == "success", api.describe_failures(dag_id, run_id)
    assert "deferred" in seen
    assert api.task_states(dag_id, run_id) == {"produce": "success", "wait": "success"}
    assert api.xcom(dag_id, run_id, "produce") == {"answer": 42, "conf": {"colour": "blue"}}
    # The real triggerer hands the kwargs given to defer() back to the resumed method.
    assert api.xcom(dag_id, run_id, "wait") == {"token": "kept-across-deferral", "fired": True}

    tries = api.task_tries(dag_id, run_id, "wait")
    assert [t["try_number"] for t in tries] == [1]
    log = api.task_log(dag_id, run_id, "wait", 1)
    assert "resume" in log or "Pushing xcom" in log, log[-2000:]
    assert api.try_details(dag_id, run_id, "wait", 1)["state"] == "success"
    print(f"smoke DAG run (parse + run) took {time.monotonic() - started:.1f} s")


def test_deferred_task_survives_triggerer_kill(
    airflow_stack: AirflowStack, write_dag: Callable[..., Path]
) -> None:
    dag_id = "e2e_triggerer_restart"
    _write(write_dag, dag_id, seconds=8)
    api = airflow_stack.client
    api.wait_for_dag(dag_id, timeout=90)
    api.unpause(dag_id)
    run_id = api.trigger(dag_id)["dag_run_id"]
    _wait_for_state(airflow_stack, dag_id, run_id, "wait", "deferred", timeout=90)

    starts_before = len(airflow_stack.grep_log("triggerer", "===== triggerer starting at"))
    old_pid = airflow_stack.pid("triggerer")
    airflow_stack.kill_component("triggerer", signal.SIGKILL)
    assert not airflow_stack.is_running("triggerer")
    assert api.task_instance(dag_id, run_id, "wait")["state"] == "deferred"

    airflow_stack.start_component("triggerer")
    assert airflow_stack.pid("triggerer") not in (None, old_pid)

    run = api.wait_for_run(dag_id, run_id, timeout=120, interval=0.5)
    assert run["state"] == "success", api.describe_failures(dag_id, run_id)
    assert api.xcom(dag_id, run_id, "wait") == {"token": "kept-across-deferral", "fired": True}
    # The crash cost no extra try: the new triggerer resumed the same trigger.
    assert api.task_instance(dag_id, run_id, "wait")["try_number"] == 1
    assert airflow_stack.grep_log("triggerer", "starting at")  # one line per (re)start
    # The session's stack is shared: count only this test's restart.
    assert len(airflow_stack.grep_log("triggerer", "===== triggerer starting at")) == starts_before + 1
