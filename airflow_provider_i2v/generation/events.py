"""The triggers' events: what the triggerer tells the task when it wakes it.

Events are stored in the metadata database, so they carry compact outcomes
(:class:`~.outcome.Outcome`), never a raw gateway answer. One generation (the single
trigger): ``{"status": "completed" | "failed" | "timeout" | "error", "generation_id",
"outcome" | error fields}``. Many (the batch trigger): ``{"status": "done" | "timeout" |
"error", "outcomes": {id: outcome}, "failures": {id: error}, "pending": [ids]}``.
Built on the triggerer and read back on the worker, here in one place.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from airflow_provider_i2v.exceptions import I2VError
from airflow_provider_i2v.generation.outcome import Outcome
from airflow_provider_i2v.generation.results import error_from_payload, error_payload
from airflow_provider_i2v.generation.wait import WaitResult
from airflow_provider_i2v.protocol import GenerationStatus, parse_generation


class EventStatus(enum.StrEnum):
    """How a wait ended."""

    COMPLETED = GenerationStatus.COMPLETED.value
    FAILED = GenerationStatus.FAILED.value
    #: Every generation of a batch is terminal (or failed on its own).
    DONE = "done"
    TIMEOUT = "timeout"
    ERROR = "error"


def single_event(generation_id: str, result: WaitResult) -> dict[str, Any]:
    """The single trigger's event from the wait's result."""
    if generation_id in result.outcomes:
        outcome = result.outcomes[generation_id]
        return {"status": outcome.status.value, "generation_id": generation_id, "outcome": outcome.to_json()}
    if generation_id in result.failures:
        return error_event(generation_id, result.failures[generation_id])
    return {
        "status": EventStatus.TIMEOUT,
        "generation_id": generation_id,
        "message": "deadline reached while the generation was running",
    }


def error_event(generation_id: str | None, error: I2VError) -> dict[str, Any]:
    return {"status": EventStatus.ERROR, **error_payload(error), "generation_id": generation_id}


def outcome_from_event(event: dict[str, Any], timeout_error: Callable[[str], BaseException]) -> Outcome:
    """The terminal outcome a single trigger reported; a timeout or error event raises."""
    status = event.get("status")
    if status in (EventStatus.COMPLETED, EventStatus.FAILED):
        if "outcome" not in event and isinstance(event.get("response"), dict):
            # An event of a trigger serialized by an earlier release: its raw answer.
            return Outcome.from_state(parse_generation(event["response"]))
        return Outcome.from_json(event["outcome"])
    if status == EventStatus.TIMEOUT:
        raise timeout_error(str(event.get("generation_id")))
    raise error_from_payload(event)


def batch_event(result: WaitResult) -> dict[str, Any]:
    return {
        "status": EventStatus.DONE if not result.pending else EventStatus.TIMEOUT,
        "outcomes": {gid: outcome.to_json() for gid, outcome in result.outcomes.items()},
        "failures": {gid: error_payload(error) for gid, error in result.failures.items()},
        "pending": result.pending,
    }


def wait_result_from_event(event: dict[str, Any]) -> WaitResult:
    """What a batch trigger reported; an error event raises its typed error."""
    if event.get("status") == EventStatus.ERROR:
        raise error_from_payload(event)
    return WaitResult(
        outcomes={gid: Outcome.from_json(raw) for gid, raw in (event.get("outcomes") or {}).items()},
        failures={gid: error_from_payload(raw) for gid, raw in (event.get("failures") or {}).items()},
        pending=list(event.get("pending") or []),
    )
