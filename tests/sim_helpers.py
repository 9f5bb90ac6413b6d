"""Small helpers over the simulator's request record and the trigger, shared by unit tests."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow.triggers.base import BaseTrigger


def creations(sim: Any) -> int:
    """Generations the simulator accepted (the number the user pays for)."""
    return int(sim.creations)


def requests_received(sim: Any) -> int:
    return len(sim.requests)


def run_trigger(trigger: BaseTrigger, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run a trigger to its end on a fresh event loop; returns every event payload."""

    async def collect() -> list[dict[str, Any]]:
        events = []
        async for event in trigger.run():
            events.append(event.payload)
        return events

    return asyncio.run(asyncio.wait_for(collect(), timeout))


def record_success(task: Any, context: dict[str, Any]) -> None:
    """What Airflow's task runner does once it has recorded a try's success: run the task's
    success callbacks, in order, with the try's context."""
    for callback in task.on_success_callback:
        callback(context)


def succeed(task: Any, context: dict[str, Any], result: Any) -> Any:
    """``result`` returned by ``execute``/``execute_complete``, then the success recorded."""
    record_success(task, context)
    return result
