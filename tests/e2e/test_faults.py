"""Never pay twice, never lose a result: fault scenarios on real Airflow components.

Each test runs a DAG on the real scheduler/triggerer/api-server/dag-processor against the
simulator and asserts the simulator's creation count: what the user pays for.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_i2v.simulator import Fault, survivable_faults
from dev.airflow_stack import AirflowStack, wait_until

#: Recognisable, so a leak anywhere is found by grepping for it.
SECRET_KEY = "sk-LEAKCHECK-4f2a9c1e7b"

FAULT_DAG = '''
from __future__ import annotations

import os
import signal
from datetime import datetime, timedelta

from airflow.sdk import dag

from airflow_provider_i2v.operators.i2v import ImageToVideoOperator


class CrashAfterSubmit(ImageToVideoOperator):
    """Test hook: on the first try, SIGKILL the task process right after the generation
    was accepted and its id stored, before any waiting starts."""

    def _wait(self, context, ledger):
        if context["ti"].try_number == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return super()._wait(context, ledger)


@dag(dag_id="__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def faults():
    __OPERATOR__.partial(
        task_id="generate",
        i2v_conn_id="__CONN__",
        prompt="{{ run_id }}",
        poll_interval=0.5,
        retries=__RETRIES__,
        retry_delay=timedelta(seconds=1),
        deferrable=__DEFERRABLE__,
        check_image_url=False,  # never fetched: the gateway is the simulator
    ).expand(first_frame_image=[f"https://images.example.com/p/{i}.jpg" for i in range(__N__)])


faults()
'''


def run_fault_dag(
    stack: AirflowStack,
    write_dag: Callable[[str, str], Path],
    simulator_url: str,
    dag_id: str,
    *,
    images: int = 1,
    retries: int = 0,
    deferrable: bool = True,
    crash_after_submit: bool = False,
    during: Callable[[str], None] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Write and run one fault DAG; returns (run_id, final dag run)."""
    conn_id = f"i2v_{dag_id}"
    stack.client.set_connection(
        conn_id,
        "i2v",
        host=simulator_url,
        password=SECRET_KEY,
        extra={
            "backoff_initial": 0.1,
            "backoff_max": 1.0,
            "max_retries": 6,
            "timeout": 5,
            "allow_private_outputs": True,
        },
    )
    source = (
        FAULT_DAG.replace("__DAG_ID__", dag_id)
        .replace("__CONN__", conn_id)
        .replace("__OPERATOR__", "CrashAfterSubmit" if crash_after_submit else "ImageToVideoOperator")
        .replace("__RETRIES__", str(retries))
        .replace("__DEFERRABLE__", str(deferrable))
        .replace("__N__", str(images))
    )
    write_dag(dag_id, source)
    run = stack.client.run_dag(dag_id, timeout=300, parse_timeout=120, after_trigger=during)
    return run["dag_run_id"], run


def generate_tis(stack: AirflowStack, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    return sorted(
        (t for t in stack.client.task_instances(dag_id, run_id) if t["task_id"] == "generate"),
        key=lambda t: t["map_index"],
    )


def test_thirty_percent_faults_every_task_succeeds_one_creation_each(
    airflow_stack: AirflowStack, write_dag: Callable[..., Path], e2e_simulator: Any, e2e_simulator_server: Any
) -> None:
    e2e_simulator.configure(generation_seconds=3, seed=30, retry_after=0.2, faults=survivable_faults(0.3))
    dag_id = "e2e_faults_30"
    run_id, run = run_fault_dag(
        airflow_stack, write_dag, e2e_simulator_server.url, dag_id, images=6, retries=5
    )
    assert run["state"] == "success", airflow_stack.client.describe_failures(dag_id, run_id)
    stats = e2e_simulator.stats()
    assert stats["faults"] / stats["requests"] > 0.15  # faults really happened
    assert e2e_simulator.creations == 6
    results = [airflow_stack.client.xcom(dag_id, run_id, "generate", map_index=i) for i in range(6)]
    assert len({r["generation_id"] for r in results}) == 6
    print(
        f"30% faults: {stats['faults']} of {stats['requests']} requests faulted, "
        f"{e2e_simulator.creations} creations for 6 tasks, "
        f"{sum(t['try_number'] for t in generate_tis(airflow_stack, dag_id, run_id))} tries"
    )


def test_triggerer_killed_while_rendering_no_new_creations(
    airflow_stack: AirflowStack, write_dag: Callable[..., Path], e2e_simulator: Any, e2e_simulator_server: Any
) -> None:
    e2e_simulator.configure(generation_seconds=15)
    dag_id = "e2e_triggerer_kill"

    def kill_triggerer_when_all_deferred(run_id: str) -> None:
        run = (airflow_stack, dag_id, run_id)
        wait_until(
            lambda: (
                len([t for t in generate_tis(airflow_stack, dag_id, run_id) if t["state"] == "deferred"]) == 3
            ),
            timeout=120,
            interval=0.25,
            description="all three generate tasks deferred",
            details=lambda: f"states: {[(t['map_index'], t['state']) for t in generate_tis(*run)]}",
        )
        airflow_stack.kill_component("triggerer", signal.SIGKILL)
        assert e2e_simulator.creations == 3
        airflow_stack.start_component("triggerer")

    run_id, run = run_fault_dag(
        airflow_stack,
        write_dag,
        e2e_simulator_server.url,
        dag_id,
        images=3,
        during=kill_triggerer_when_all_deferred,
    )
    assert run["state"] == "success", airflow_stack.client.describe_failures(dag_id, run_id)
    assert e2e_simulator.creations == 3  # the new triggerer resumed polling; nothing was submitted again
    assert [t["try_number"] for t in generate_tis(airflow_stack, dag_id, run_id)] == [1, 1, 1]


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "blocking"])
def test_worker_killed_after_acceptance_retry_reconnects(
    airflow_stack: AirflowStack,
    write_dag: Callable[..., Path],
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    deferrable: bool,
) -> None:
    e2e_simulator.configure(generation_seconds=4)
    dag_id = f"e2e_worker_kill_{'deferrable' if deferrable else 'blocking'}"
    run_id, run = run_fault_dag(
        airflow_stack,
        write_dag,
        e2e_simulator_server.url,
        dag_id,
        retries=2,
        deferrable=deferrable,
        crash_after_submit=True,
    )
    api = airflow_stack.client
    assert run["state"] == "success", api.describe_failures(dag_id, run_id)
    [ti] = generate_tis(airflow_stack, dag_id, run_id)
    assert ti["try_number"] == 2  # the kill cost one try...
    assert e2e_simulator.creations == 1  # ...but not a second generation
    log = api.task_log(dag_id, run_id, "generate", 2, map_index=0)
    assert "of an earlier try" in log, log[-3000:]
    result = api.xcom(dag_id, run_id, "generate", map_index=0)
    assert result["generation_id"] == e2e_simulator.generation_ids[0]


def test_failed_generation_new_creation_per_try_and_code_in_final_error(
    airflow_stack: AirflowStack, write_dag: Callable[..., Path], e2e_simulator: Any, e2e_simulator_server: Any
) -> None:
    e2e_simulator.configure(generation_seconds=1, fail_code="010006095", error_code_form="int")
    dag_id = "e2e_generation_fails"
    run_id, run = run_fault_dag(airflow_stack, write_dag, e2e_simulator_server.url, dag_id, retries=2)
    assert run["state"] == "failed"
    [ti] = generate_tis(airflow_stack, dag_id, run_id)
    assert ti["state"] == "failed"
    assert ti["try_number"] == 3
    assert e2e_simulator.creations == 3  # one new generation per try, as the code allows
    log = airflow_stack.client.task_log(dag_id, run_id, "generate", 3, map_index=0)
    assert "I2VGenerationFailedError" in log, log[-3000:]
    assert "code 010006095" in log


def test_bad_key_fails_once_without_retries(
    airflow_stack: AirflowStack, write_dag: Callable[..., Path], e2e_simulator: Any, e2e_simulator_server: Any
) -> None:
    e2e_simulator.configure(api_keys=["not-the-key-airflow-has"])
    dag_id = "e2e_bad_key"
    run_id, run = run_fault_dag(airflow_stack, write_dag, e2e_simulator_server.url, dag_id, retries=3)
    assert run["state"] == "failed"
    [ti] = generate_tis(airflow_stack, dag_id, run_id)
    assert ti["state"] == "failed"
    assert ti["try_number"] == 1  # no retry burned on a key that cannot work
    assert e2e_simulator.creations == 0
    log = airflow_stack.client.task_log(dag_id, run_id, "generate", 1, map_index=0)
    assert "API key was refused" in log, log[-3000:]


def test_key_never_leaks_into_logs_xcom_db_or_rendered_fields(
    airflow_stack: AirflowStack, write_dag: Callable[..., Path], e2e_simulator: Any, e2e_simulator_server: Any
) -> None:
    # Retried faults (logged warnings), a deferral, a completion and the other tests'
    # failures have all run with SECRET_KEY by now; this run adds one more of each.
    e2e_simulator.configure(generation_seconds=2, faults=[Fault("http_503", first_n=3, scope="poll")])
    dag_id = "e2e_secrets"
    run_id, run = run_fault_dag(airflow_stack, write_dag, e2e_simulator_server.url, dag_id, images=2)
    assert run["state"] == "success", airflow_stack.client.describe_failures(dag_id, run_id)
    api = airflow_stack.client
    needle = SECRET_KEY.encode()
    leaks = []
    files = [p for p in airflow_stack.home.rglob("*") if p.is_file()]
    files += [p for p in airflow_stack.database_files() if p not in files]
    assert any(p.suffix == ".log" for p in files)
    assert airflow_stack.database_files()  # the metadata DB (trigger table, XCom, RTIF), in every mode
    for path in files:
        if needle in path.read_bytes():
            leaks.append(str(path))
    assert leaks == []
    for index in range(2):
        rendered = api.get_json(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/generate/{index}")
        assert SECRET_KEY not in str(rendered)
        assert SECRET_KEY not in str(api.xcom(dag_id, run_id, "generate", map_index=index))
    assert any(f"/{dag_id}/" in str(p) or dag_id in str(p) for p in files)  # its logs were among the files
