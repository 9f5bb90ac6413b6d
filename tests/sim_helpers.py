"""Small helpers over the simulator's request record and the trigger, shared by unit tests."""

from __future__ import annotations

from typing import Any

from dev.task_runtime import run_trigger

__all__ = ["creations", "record_success", "requests_received", "run_trigger", "succeed"]


def creations(sim: Any) -> int:
    """Generations the simulator accepted (the number the user pays for)."""
    return int(sim.creations)


def requests_received(sim: Any) -> int:
    return len(sim.requests)


def record_success(task: Any, context: dict[str, Any]) -> None:
    """What Airflow's task runner does once it has recorded a try's success: run the task's
    success callbacks, in order, with the try's context."""
    for callback in task.on_success_callback:
        callback(context)


def succeed(task: Any, context: dict[str, Any], result: Any) -> Any:
    """``result`` returned by ``execute``/``execute_complete``, then the success recorded."""
    record_success(task, context)
    return result
