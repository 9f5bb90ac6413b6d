"""Operators that time their own ``execute`` and ``execute_complete`` (task-process CPU).

Each call appends one JSON line to the file named by ``I2V_BENCH_RECORD``: which operator,
which method, the CPU seconds the task process had used before the call (interpreter
start, Airflow's task runner, parsing the DAG file: Airflow's share, and the provider's
imports at parse time), the CPU seconds of the call itself and the seconds the task
process had lived when the call ended (the worker slot it held). Used by
``python -m benchmarks`` only (:mod:`benchmarks.worker`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import psutil

from airflow_provider_i2v.operators.i2v import ImageToVideoBatchOperator, ImageToVideoOperator
from benchmarks.noop import NoopDeferringOperator


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _record(operator: str, method: str, before: float, seconds: float) -> None:
    path = os.environ.get("I2V_BENCH_RECORD")
    if not path:
        return
    # The worker slot the call held: the task process's life up to the call's end.
    slot = time.time() - psutil.Process().create_time()
    line = json.dumps(
        {"operator": operator, "method": method, "before": before, "cpu": seconds, "slot": slot}
    )
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


class _Timed:
    """Mixin: time ``execute`` and ``execute_complete`` (deferral raises through ``finally``)."""

    bench_name = "?"

    def execute(self, context: Any) -> Any:
        before, started = _process_cpu(), time.process_time()
        try:
            return super().execute(context)  # type: ignore[misc]
        finally:
            _record(self.bench_name, "execute", before, time.process_time() - started)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        before, started = _process_cpu(), time.process_time()
        try:
            return super().execute_complete(context, event)  # type: ignore[misc]
        finally:
            _record(self.bench_name, "execute_complete", before, time.process_time() - started)


class TimedImageToVideoOperator(_Timed, ImageToVideoOperator):
    bench_name = "provider"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("check_image_url", False)  # the benchmark's image URLs are never fetched
        super().__init__(**kwargs)


class TimedImageToVideoBatchOperator(_Timed, ImageToVideoBatchOperator):
    bench_name = "batch"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("check_image_url", False)  # the benchmark's image URLs are never fetched
        super().__init__(**kwargs)


class TimedNoopOperator(_Timed, NoopDeferringOperator):
    bench_name = "noop"
