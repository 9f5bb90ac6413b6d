"""Retry safety: remember the paid generation of a task instance across tries.

The generation id goes into the task instance's ``task_state_store`` the moment the
gateway accepts it. Rows are keyed by (dag run, task id, map index), so every retry
and every clear of the same task instance sees it; the operator deletes it after a
success so that a manual clear of a succeeded task generates a new video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v import exceptions

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The key in ``task_state_store``. Renaming it breaks in-flight retries of deployed DAGs.
STATE_KEY = "i2v_generation"


@dataclass(frozen=True)
class StoredGeneration:
    """A generation accepted for this task instance, and when (epoch seconds)."""

    generation_id: str
    submitted_at: float


def _store(context: Context) -> Any:
    return context.get("task_state_store")


def recall_generation(context: Context) -> StoredGeneration | None:
    store = _store(context)
    if store is None:
        return None
    raw = store.get(STATE_KEY)
    if isinstance(raw, dict) and isinstance(raw.get("generation_id"), str):
        return StoredGeneration(raw["generation_id"], float(raw.get("submitted_at") or 0.0))
    if isinstance(raw, str) and raw:
        return StoredGeneration(raw, 0.0)
    return None


def remember_generation(context: Context, stored: StoredGeneration) -> None:
    store = _store(context)
    if store is not None:
        store.set(STATE_KEY, {"generation_id": stored.generation_id, "submitted_at": stored.submitted_at})


def forget_generation(context: Context) -> None:
    store = _store(context)
    if store is not None:
        store.delete(STATE_KEY)


def error_from_event(event: dict[str, Any]) -> exceptions.I2VError:
    """Rebuild the typed error a trigger reported by class name (only this provider's classes)."""
    name = str(event.get("error_class") or "I2VError")
    cls = getattr(exceptions, name, None)
    if not (isinstance(cls, type) and issubclass(cls, exceptions.I2VError)):
        cls = exceptions.I2VError
    return cls(
        str(event.get("message") or "the trigger reported an error"),
        code=event.get("code"),
        generation_id=event.get("generation_id"),
    )
