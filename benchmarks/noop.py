"""Airflow's own floor: a trigger and a deferring operator that do nothing else.

* :class:`SleepTrigger` wakes every ``interval`` seconds until ``deadline`` and then fires
  once: N of them on a triggerer cost what Airflow itself costs for N triggers waking at
  that rate (the event loop, the supervisor's database work), with no HTTP at all.
* :class:`NoopDeferringOperator` defers at once to a :class:`SleepTrigger` and returns
  in ``execute_complete``: a real task's cost without the provider.

Both are used by ``python -m benchmarks`` only.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk import BaseOperator
from airflow.triggers.base import BaseTrigger, TriggerEvent


class SleepTrigger(BaseTrigger):
    """Wake every ``interval`` seconds until ``deadline`` (epoch seconds), then fire ``done``."""

    def __init__(self, *, interval: float, deadline: float) -> None:
        super().__init__()
        self.interval = float(interval)
        self.deadline = float(deadline)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "interval": self.interval,
                "deadline": self.deadline,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while (left := self.deadline - time.time()) > 0:  # noqa: ASYNC110 - waking is the point
            await asyncio.sleep(min(self.interval, left))
        yield TriggerEvent({"status": "done"})


class NoopDeferringOperator(BaseOperator):
    """Defer to a :class:`SleepTrigger` of ``seconds``, then succeed: Airflow's per-task cost."""

    def __init__(self, *, seconds: float = 1.0, item: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds
        self.item = item

    def execute(self, context: Any) -> None:
        self.defer(
            trigger=SleepTrigger(interval=self.seconds, deadline=time.time() + self.seconds),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        return {"status": event["status"]}


class ProbeTrigger(BaseTrigger):
    """Watches the triggerer's event loop from inside it, beside the triggers being measured.

    Until ``deadline`` it ticks every 20 ms and records how late each tick was (the loop's
    lag), and it times every garbage collection of the process (``gc.callbacks``). A helper
    thread looks at the loop's thread every 10 ms and, while a tick is over 100 ms late,
    records that thread's stack: what held the loop. At the deadline it writes a JSON
    summary to ``report`` (in a thread: no blocking I/O on the loop) and fires.
    """

    def __init__(self, *, deadline: float, report: str) -> None:
        super().__init__()
        self.deadline = float(deadline)
        self.report = report

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "deadline": self.deadline,
                "report": self.report,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import gc
        import json
        from pathlib import Path

        collected: list[tuple[int, float, float]] = []  # (generation, started, seconds)
        started: dict[int, float] = {}

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[info["generation"]] = time.perf_counter()
            elif info["generation"] in started:
                begun = started.pop(info["generation"])
                collected.append((info["generation"], begun, time.perf_counter() - begun))

        gc.callbacks.append(on_gc)
        lags: list[tuple[float, float]] = []  # (perf_counter at, seconds late)
        offset = time.time() - time.perf_counter()
        ticked = [time.perf_counter()]
        stalls: collections.Counter[str] = collections.Counter()
        stop = threading.Event()
        sampler = threading.Thread(
            target=_sample_stalls, args=(threading.get_ident(), ticked, stalls, stop), daemon=True
        )
        sampler.start()
        try:
            while time.time() < self.deadline:
                before = time.perf_counter()
                await asyncio.sleep(0.02)
                ticked[0] = now = time.perf_counter()
                late = now - before - 0.02
                if late > 0.05:
                    lags.append((before, late))
        finally:
            gc.callbacks.remove(on_gc)
            stop.set()
            await asyncio.to_thread(sampler.join, 5)
        by_generation = {
            g: {
                "count": sum(1 for c in collected if c[0] == g),
                "max_s": max((c[2] for c in collected if c[0] == g), default=0.0),
                "total_s": sum(c[2] for c in collected if c[0] == g),
            }
            for g in (0, 1, 2)
        }
        # A lag "explained" by a collection: one that ran within the late tick.
        explained = sum(
            1
            for at, late in lags
            if any(at <= c[1] <= at + 0.02 + late and c[2] > late / 2 for c in collected)
        )
        summary = {
            "gc": by_generation,
            "gc_tracked_objects": len(gc.get_objects()),
            "gc_frozen_objects": gc.get_freeze_count(),
            "lags_over_50ms": len(lags),
            "lags_over_200ms": sum(1 for _, late in lags if late > 0.2),
            "max_lag_s": max((late for _, late in lags), default=0.0),
            "lags_explained_by_gc": explained,
            "stall_stacks": [{"samples": n, "stack": stack} for stack, n in stalls.most_common(12)],
            "worst_lags": [
                {"at": round(at + offset, 3), "late_s": round(late, 3)}
                for at, late in sorted(lags, key=lambda lag: -lag[1])[:10]
            ],
        }
        await asyncio.to_thread(Path(self.report).write_text, json.dumps(summary))
        yield TriggerEvent({"status": "done"})


def _sample_stalls(
    loop_thread: int, ticked: list[float], stalls: collections.Counter[str], stop: threading.Event
) -> None:
    """Every 10 ms: if the loop has not ticked for 100 ms, count the loop thread's stack."""
    while not stop.wait(0.01):
        if time.perf_counter() - ticked[0] < 0.1:
            continue
        frame = sys._current_frames().get(loop_thread)
        if frame is None:
            continue
        stack = traceback.extract_stack(frame)[-14:]
        stalls[
            " <- ".join(
                f"{f.name} ({f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno})" for f in reversed(stack)
            )
        ] += 1
