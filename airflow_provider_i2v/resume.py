"""Retry safety: remember the paid generation of a task instance across tries.

The generation id goes into the task instance's ``task_state_store`` the moment the
gateway accepts it. Rows are keyed by (dag run, task id, map index), so every retry
and every clear of the same task instance sees it; the operator deletes it after a
success so that a manual clear of a succeeded task generates a new video.
"""

from __future__ import annotations

import time
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


def recall_pending_create(context: Context) -> float | None:
    """When an earlier try sent a create whose answer never came (epoch seconds), else ``None``."""
    store = _store(context)
    raw = store.get(STATE_KEY) if store is not None else None
    if isinstance(raw, dict) and "generation_id" not in raw and raw.get("pending_since"):
        return float(raw["pending_since"])
    return None


def mark_create_pending(context: Context) -> None:
    """Record that a create is about to be sent (cleared once its outcome is known)."""
    store = _store(context)
    if store is not None:
        store.set(STATE_KEY, {"pending_since": time.time()})


def remember_generation(context: Context, stored: StoredGeneration) -> None:
    """Store the accepted id; a few attempts, then fail *without* retry rather than pay twice."""
    store = _store(context)
    if store is None:
        return
    import tenacity  # not at module level: the operator imports this module at DAG-parse time

    value = {"generation_id": stored.generation_id, "submitted_at": stored.submitted_at}
    try:
        for attempt in tenacity.Retrying(
            stop=tenacity.stop_after_attempt(4),
            wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=4),
            reraise=True,
        ):
            with attempt:
                store.set(STATE_KEY, value)
    except Exception as exc:
        raise exceptions.I2VNonRetryableError(
            f"the generation was accepted (and is paid for) but could not be recorded in "
            f"task_state_store ({type(exc).__name__}: {exc}); failing without retry so that a retry "
            "does not pay for a second one. Collect its result with "
            f"I2VTaskSensor(generation_id={stored.generation_id!r}).",
            generation_id=stored.generation_id,
        ) from exc


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
