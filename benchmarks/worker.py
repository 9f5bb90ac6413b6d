"""The worker's share: ``execute`` and ``execute_complete`` per video, beside Airflow's own.

A real Airflow (api-server, scheduler, dag-processor, triggerer; SQLite, LocalExecutor)
runs two DAGs of N mapped tasks one after the other against the simulator:

* ``provider``: :class:`~benchmarks.worker_ops.TimedImageToVideoOperator` (the provider's
  operator) on a public image URL each (passed through, never read), deferring while a
  render of ``render`` seconds runs, polled every second;
* ``noop``: :class:`~benchmarks.worker_ops.TimedNoopOperator`, deferring as long to a
  trigger that only sleeps: Airflow's own cost of a deferring task.

Every task process records the CPU it used before the call (Airflow's task start, the DAG
file's imports) and during ``execute`` / ``execute_complete``; the machine's CPU (every
process of the Airflow, children included) over each DAG run is read from /proc.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.triggerer import KEY, REPO, Simulator

_DAG = '''\
"""Written by benchmarks.worker: {n} mapped {kind} tasks."""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from benchmarks.worker_ops import {cls}

with DAG(
    "{dag_id}",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    max_active_tasks={n},
):
    {cls}.partial(task_id="generate", {partial}).expand({expand})
'''


#: The polling every kind shares, so the runs differ only in how the tasks are laid out.
_POLLING = "poll_interval=1.0, max_poll_interval=1.0, adaptive_polling=False"


def _images(n: int) -> list[str]:
    return [f"https://images.example.com/bench/{i}.jpg" for i in range(n)]


_BATCH_DAG = '''\
"""Written by benchmarks.worker: one batch task over {n} images."""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from benchmarks.worker_ops import TimedImageToVideoBatchOperator

with DAG(
    "{dag_id}",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
):
    TimedImageToVideoBatchOperator(task_id="generate", images={images!r}, {polling})
'''


def dag_file(kind: str, n: int, render: float, dag_id: str) -> str:
    """``provider``: N mapped operators; ``batch``: one batch operator over the same N
    images; ``noop``: N mapped no-op deferring tasks (Airflow's own cost)."""
    if kind == "provider":
        return _DAG.format(
            dag_id=dag_id,
            n=n,
            kind=kind,
            cls="TimedImageToVideoOperator",
            partial=_POLLING,
            expand=f"first_frame_image={_images(n)!r}",
        )
    if kind == "batch":
        return _BATCH_DAG.format(dag_id=dag_id, n=n, polling=_POLLING, images=_images(n))
    return _DAG.format(
        dag_id=dag_id,
        n=n,
        kind=kind,
        cls="TimedNoopOperator",
        partial=f"seconds={render}",
        expand=f"item={list(range(n))!r}",
    )


@dataclass
class Calls:
    """CPU seconds of one operator's calls, one entry per task process."""

    before_execute: list[float] = field(default_factory=list)
    execute: list[float] = field(default_factory=list)
    before_complete: list[float] = field(default_factory=list)
    execute_complete: list[float] = field(default_factory=list)
    #: Seconds each task process had lived when its call ended: the worker slots held.
    slots: list[float] = field(default_factory=list)

    @staticmethod
    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")


@dataclass
class WorkerRun:
    n: int
    render: float
    calls: dict[str, Calls]
    machine: dict[str, dict[str, float]]  # kind -> component -> CPU seconds over the run
    wall: dict[str, float]


def _tree_cpu(marker: str) -> dict[str, float]:
    """CPU seconds (children reaped included) of every live process of one stack, by component."""
    found: dict[str, float] = {}
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if env.get("I2V_DEV_AIRFLOW_STACK_ID") != marker:
                continue
            times = proc.cpu_times()
            component = env.get("I2V_DEV_AIRFLOW_COMPONENT", "?")
        except (psutil.Error, OSError):
            continue
        found[component] = found.get(component, 0.0) + times.user + times.system
        found[component] += times.children_user + times.children_system
    return found


def run(
    work: Path,
    simulator: Simulator,
    n: int,
    render: float,
    *,
    kinds: tuple[str, ...] = ("noop", "provider"),
    tag: str = "worker",
    parallelism: int = 2,
    timeout: float = 1800,
) -> WorkerRun:
    """One Airflow runs a warm-up DAG of each kind (2 tasks), then each kind's DAG of ``n``."""
    from dev.airflow_stack import AirflowStack

    dags = work / f"{tag}-dags"
    dags.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        (dags / f"i2v_bench_{tag}_{kind}.py").write_text(dag_file(kind, n, render, f"i2v_bench_{tag}_{kind}"))
        (dags / f"i2v_bench_{tag}_warmup_{kind}.py").write_text(
            dag_file(kind, 2, render, f"i2v_bench_{tag}_warmup_{kind}")
        )
    record = work / f"{tag}-calls.jsonl"
    record.unlink(missing_ok=True)
    connection = {"conn_type": "i2v", "host": simulator.url, "password": KEY}
    simulator.client.post("/_sim/config", json={"render_time": "fixed", "generation_seconds": render})
    stack = AirflowStack(
        dags,
        home=work / f"{tag}-airflow",
        parallelism=parallelism,
        pythonpath=[REPO],
        env={
            "I2V_BENCH_RECORD": str(record),
            "AIRFLOW_CONN_I2V_DEFAULT": json.dumps(connection),
            "PYTHONDONTWRITEBYTECODE": "",  # as deployed: modules compiled once, not per process
        },
    )
    machine: dict[str, dict[str, float]] = {}
    wall: dict[str, float] = {}
    try:
        stack.start()
        client = stack.client
        for kind in (*(f"warmup_{k}" for k in kinds), *kinds):
            dag_id = f"i2v_bench_{tag}_{kind}"
            client.wait_for_dag(dag_id, timeout=180)
            client.unpause(dag_id)
            time.sleep(2)
            before, started = _tree_cpu(stack.stack_id), time.monotonic()
            dag_run = client.trigger(dag_id)
            final = client.wait_for_run(dag_id, dag_run["dag_run_id"], timeout=timeout, interval=2.0)
            seconds = time.monotonic() - started
            after = _tree_cpu(stack.stack_id)
            if final.get("state") != "success":
                failures = client.describe_failures(dag_id, dag_run["dag_run_id"])
                raise RuntimeError(f"{dag_id} ended {final.get('state')}:\n{failures}")
            if kind.startswith("warmup"):
                record.unlink(missing_ok=True)  # compiles modules, warms the api-server: not measured
                continue
            wall[kind] = seconds
            machine[kind] = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    finally:
        stack.stop()
    return WorkerRun(n, render, _read(record), machine, wall)


def run_inline(work: Path, simulator: Simulator, n: int, render: float) -> WorkerRun:
    """The smoke run's stand-in: the same operators called in this process, triggers run inline."""
    import os

    from airflow.sdk.exceptions import TaskDeferred

    from benchmarks.worker_ops import (
        TimedImageToVideoBatchOperator,
        TimedImageToVideoOperator,
        TimedNoopOperator,
    )
    from dev.task_runtime import make_context, run_trigger

    record = work / "worker-calls.jsonl"
    record.unlink(missing_ok=True)
    os.environ["I2V_BENCH_RECORD"] = str(record)
    os.environ["AIRFLOW_CONN_I2V_DEFAULT"] = json.dumps(
        {"conn_type": "i2v", "host": simulator.url, "password": KEY}
    )
    simulator.client.post("/_sim/config", json={"render_time": "fixed", "generation_seconds": render})
    batch = TimedImageToVideoBatchOperator(task_id="batch", images=_images(n), poll_interval=0.1)
    try:
        for i in range(n):
            for op in (
                TimedImageToVideoOperator(
                    task_id=f"generate_{i}", first_frame_image=_images(n)[i], poll_interval=0.1
                ),
                TimedNoopOperator(task_id=f"noop_{i}", seconds=render),
                *([batch] if i == 0 else []),
            ):
                context = make_context()
                try:
                    op.execute(context)
                except TaskDeferred as deferred:
                    [event] = run_trigger(deferred.trigger, timeout=60)
                    op.execute_complete(context, event)
    finally:
        os.environ.pop("I2V_BENCH_RECORD", None)
    return WorkerRun(n, render, _read(record), {}, {})


def _read(record: Path) -> dict[str, Calls]:
    calls: dict[str, Calls] = {"provider": Calls(), "noop": Calls(), "batch": Calls()}
    for line in record.read_text().splitlines() if record.exists() else ():
        entry: dict[str, Any] = json.loads(line)
        c = calls[entry["operator"]]
        c.slots.append(entry.get("slot", 0.0))
        if entry["method"] == "execute":
            c.before_execute.append(entry["before"])
            c.execute.append(entry["cpu"])
        else:
            c.before_complete.append(entry["before"])
            c.execute_complete.append(entry["cpu"])
    return calls


__all__ = ["Calls", "WorkerRun", "dag_file", "run", "run_inline"]
