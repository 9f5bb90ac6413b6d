"""The DAG whose task instances the trigger benchmark defers by hand (``benchmarks.seed``).

Its task never runs: the benchmark creates deferred task instances of it, each with its
own trigger, straight in the metadata database, so a real triggerer runs thousands of
triggers without thousands of worker tasks having to start first.
"""

from __future__ import annotations

import datetime

from airflow.sdk import DAG

from benchmarks.noop import NoopDeferringOperator

with DAG(
    "i2v_bench_triggers",
    schedule=None,
    start_date=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    catchup=False,
    is_paused_upon_creation=True,
):
    NoopDeferringOperator.partial(task_id="wait").expand(item=[0])
