"""A task's runtime context without Airflow's task runner, and a trigger run to its end.

What the provider's operators touch of a running task: a task instance that records XCom
pushes, and a ``task_state_store`` that outlives one try. The unit tests and the
benchmarks' inline runs both call operators this way, so it lives here, outside ``tests/``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger


class RecordingTI:
    """The part of a task instance the provider uses: ``xcom_push``."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}
        self.task_id = "generate"
        self.map_index = -1

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))  # XCom values must be JSON


class DictStateStore:
    """``task_state_store`` semantics: JSON values, ``None`` refused, survives across tries."""

    def __init__(self) -> None:
        self.rows: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.rows[key]) if key in self.rows else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("None is not storable")
        self.rows[key] = json.dumps(value)

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)

    def clear(self) -> None:
        self.rows.clear()


def make_context(store: DictStateStore | None = None) -> dict[str, Any]:
    """A fresh try's context; pass the same ``store`` to model a retry of one task instance."""
    return {"ti": RecordingTI(), "task_state_store": store if store is not None else DictStateStore()}


def run_trigger(trigger: BaseTrigger, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Run a trigger to its end on a fresh event loop; returns every event payload."""

    async def collect() -> list[dict[str, Any]]:
        events = []
        async for event in trigger.run():
            events.append(event.payload)
        return events

    return asyncio.run(asyncio.wait_for(collect(), timeout))
