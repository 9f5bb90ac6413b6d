"""The crash-point matrix on real Airflow: a SIGKILL of the task process at a step, and a real
``execution_timeout``, then Airflow's own retry; what the user paid for, and what the log says.

The in-process rows (every step x exception, SIGTERM, Ctrl-C, timeout) are
``tests/operators/test_crash_matrix.py``; these are the rows only real components can run:
a process that dies without running any code, and Airflow's own timeout signal. The task
kills itself (``os.kill(os.getpid(), SIGKILL)``) at the step, on its first try only, so the
kill lands exactly there; Airflow sees a task process that died and retries it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_i2v.simulator import Fault
from dev.airflow_stack import AirflowStack

#: Said by the try after a create whose outcome is unknown.
WARNING = "has an unknown outcome: a generation may exist and may have been paid for"

CRASH_DAG = '''
from __future__ import annotations

import os
import signal
import threading
from datetime import datetime, timedelta

from airflow.sdk import dag

from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator

STEP = "__STEP__"


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Crashing(ImageToVideoOperator):
    """Test hook: SIGKILL this task process at STEP, on the first try only."""

    def first(self, context) -> bool:
        return context["ti"].try_number == 1

    def execute(self, context):
        if STEP == "create on the wire" and self.first(context):
            original = I2VHook.acreate_generation

            async def create(hook, request):
                threading.Timer(1.0, die).start()  # while the gateway holds the answer back
                return await original(hook, request)

            I2VHook.acreate_generation = create
        return super().execute(context)

    def _wait(self, context, ledger):
        if STEP == "id stored" and self.first(context):
            die()
        return super()._wait(context, ledger)

    def execute_complete(self, context, event):
        if STEP == "event received" and self.first(context):
            die()
        return super().execute_complete(context, event)

    def _finish(self, context, ledger, state):
        result = super()._finish(context, ledger, state)
        if STEP == "outputs copied" and self.first(context):
            die()
        return result


@dag(dag_id="__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def crash():
    Crashing(
        task_id="generate",
        i2v_conn_id="__CONN__",
        first_frame_image="https://images.example.com/p/0.jpg",
        check_image_url=False,  # never fetched: the gateway is the simulator
        poll_interval=0.5,
        retries=4,
        retry_delay=timedelta(seconds=1),
        deferrable=__DEFERRABLE__,
        execution_timeout=__TIMEOUT__,
        output_dir="__OUTPUT__",
    )


crash()
'''


def run_crash(
    stack: AirflowStack,
    write_dag: Callable[[str, str], Path],
    simulator_url: str,
    output: Path,
    *,
    step: str,
    deferrable: bool = True,
    timeout: float | None = None,
) -> tuple[str, str, dict[str, Any]]:
    dag_id = "e2e_crash_" + step.replace(" ", "_") + ("" if deferrable else "_blocking")
    dag_id += "" if timeout is None else "_timeout"
    conn_id = f"i2v_{dag_id}"
    stack.client.set_connection(
        conn_id,
        "i2v",
        host=simulator_url,
        password="e2e-key",
        extra={"backoff_initial": 0.1, "timeout": 30, "allow_private_outputs": True},
    )
    source = (
        CRASH_DAG.replace("__DAG_ID__", dag_id)
        .replace("__CONN__", conn_id)
        .replace("__STEP__", step)
        .replace("__DEFERRABLE__", str(deferrable))
        .replace("__TIMEOUT__", "None" if timeout is None else f"timedelta(seconds={timeout})")
        .replace("__OUTPUT__", str(output))
    )
    write_dag(dag_id, source)
    run = stack.client.run_dag(dag_id, timeout=300, parse_timeout=120)
    return dag_id, run["dag_run_id"], run


def tries_log(stack: AirflowStack, dag_id: str, run_id: str) -> tuple[int, str]:
    api = stack.client
    [ti] = [t for t in api.task_instances(dag_id, run_id) if t["task_id"] == "generate"]
    tries = int(ti["try_number"])
    logs = [api.task_log(dag_id, run_id, "generate", n) for n in range(1, tries + 1)]
    return tries, "\n".join(logs)


#: (step, how, deferrable, creations, warned): what the user pays for over both tries.
ROWS = [
    ("create on the wire", "SIGKILL", True, 2, True),
    ("id stored", "SIGKILL", True, 1, False),
    ("id stored", "SIGKILL", False, 1, False),
    ("event received", "SIGKILL", True, 1, False),
    ("outputs copied", "SIGKILL", True, 1, False),
    ("create on the wire", "execution_timeout", True, 2, True),
    ("waiting in the worker", "execution_timeout", False, 1, False),
]


@pytest.mark.parametrize(
    ("step", "how", "deferrable", "expected", "warned"),
    ROWS,
    ids=[f"{s}-{h}-{'deferrable' if d else 'blocking'}" for s, h, d, _, _ in ROWS],
)
def test_crash_point_on_real_airflow(
    airflow_stack: AirflowStack,
    write_dag: Callable[..., Path],
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    tmp_path: Path,
    step: str,
    how: str,
    deferrable: bool,
    expected: int,
    warned: bool,
) -> None:
    timeout = None
    e2e_simulator.configure(generation_seconds=3)
    if step == "create on the wire":
        # The gateway creates the generation, then holds its answer back well past the kill
        # (SIGKILL after 1 s) or the task's execution_timeout (3 s).
        e2e_simulator.configure(slow_seconds=15, faults=[Fault("slow", scope="create", first_n=1)])
    if how == "execution_timeout":
        timeout = 3.0
        if step == "waiting in the worker":
            e2e_simulator.configure(generation_seconds=7)  # longer than one try may wait
    dag_id, run_id, run = run_crash(
        airflow_stack,
        write_dag,
        e2e_simulator_server.url,
        tmp_path,
        step="none" if how == "execution_timeout" else step,
        deferrable=deferrable,
        timeout=timeout,
    )
    api = airflow_stack.client
    assert run["state"] == "success", api.describe_failures(dag_id, run_id)
    tries, log = tries_log(airflow_stack, dag_id, run_id)
    assert tries >= 2  # the interruption cost a try...
    assert e2e_simulator.creations == expected  # ...and this many generations
    assert (WARNING in log) is warned, log[-4000:]
    result = api.xcom(dag_id, run_id, "generate")
    assert result["uncertain_creates"] == (1 if warned else 0)
    downloads = e2e_simulator.stats()["file_downloads"]
    if how == "SIGKILL":
        assert downloads == 1  # a copy the next try found complete was not downloaded again
    else:
        assert 1 <= downloads <= tries  # a timeout may cut a download short: then it is redone
    [kept] = tmp_path.iterdir()  # no partial file left beside it
    assert kept.name == f"{result['generation_id']}.mp4"
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == result["files"][0]["sha256"]
    print(f"crash matrix: {step} / {how}: {tries} tries, {e2e_simulator.creations} creations")
