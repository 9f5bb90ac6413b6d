"""The trigger's one event: what the triggerer tells the task when it wakes it.

The payload is JSON (stored in the metadata database): ``{"status", "generation_id",
"response" (the last gateway answer, for completed/failed), "message", "error_class",
"code"}``. Built by the trigger, read back on the worker, here in one place.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from airflow_provider_i2v import exceptions
from airflow_provider_i2v.protocol import GenerationState, GenerationStatus, parse_generation


class EventStatus(enum.StrEnum):
    """The generation's terminal statuses, plus the two ways a wait ends without one."""

    COMPLETED = GenerationStatus.COMPLETED.value
    FAILED = GenerationStatus.FAILED.value
    TIMEOUT = "timeout"
    ERROR = "error"


def terminal_payload(state: GenerationState) -> dict[str, Any]:
    """The event of a completed or failed generation: its last answer, as received."""
    return {
        "status": EventStatus(state.status.value),
        "generation_id": state.generation_id,
        "response": dict(state.raw),
    }


def timeout_payload(generation_id: str) -> dict[str, Any]:
    return {
        "status": EventStatus.TIMEOUT,
        "generation_id": generation_id,
        "message": "deadline reached while the generation was running",
    }


def error_payload(generation_id: str, error: exceptions.I2VError) -> dict[str, Any]:
    return {
        "status": EventStatus.ERROR,
        "generation_id": generation_id,
        "message": error.message,
        "error_class": type(error).__name__,
        "code": error.code,
    }


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


def state_from_event(event: dict[str, Any], timeout_error: Callable[[str], BaseException]) -> GenerationState:
    """The terminal state a trigger reported; a timeout or error event raises its typed error."""
    status = event.get("status")
    if status in (EventStatus.COMPLETED, EventStatus.FAILED):
        return parse_generation(event["response"])
    if status == EventStatus.TIMEOUT:
        raise timeout_error(str(event.get("generation_id")))
    raise error_from_event(event)
