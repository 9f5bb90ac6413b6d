"""Operators that time their own ``execute`` and ``execute_complete`` (task-process CPU).

Each call appends one JSON line to the file named by ``I2V_BENCH_RECORD``: which operator,
which method, the CPU seconds the task process had used before the call (interpreter
start, Airflow's task runner, parsing the DAG file: Airflow's share, and the provider's
imports at parse time) and the CPU seconds of the call itself. Used by
``python -m benchmarks`` only (:mod:`benchmarks.worker`).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
from benchmarks.noop import NoopDeferringOperator


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


def _record(operator: str, method: str, before: float, seconds: float) -> None:
    path = os.environ.get("I2V_BENCH_RECORD")
    if not path:
        return
    line = json.dumps({"operator": operator, "method": method, "before": before, "cpu": seconds})
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


class TimedNoopOperator(_Timed, NoopDeferringOperator):
    bench_name = "noop"
