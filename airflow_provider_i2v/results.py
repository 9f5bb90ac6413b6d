"""The shape of what a generation step returns to XCom (SPEC.md, "Return value").

The operator and the sensor both return it, so it is built in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import (
    I2VError,
    I2VGenerationFailedError,
    I2VWatchedGenerationFailedError,
)
from airflow_provider_i2v.protocol import GenerationState, GenerationStatus, parse_generation
from airflow_provider_i2v.resume import error_from_event

if TYPE_CHECKING:
    from airflow.sdk import Context

#: ``status`` of the trigger's event besides the terminal generation statuses
#: (``completed``/``failed``, from :class:`GenerationStatus`).
EVENT_TIMEOUT = "timeout"
EVENT_ERROR = "error"

#: XCom keys pushed besides ``return_value``.
XCOM_GENERATION_ID = "generation_id"
XCOM_VIDEO_URLS = "video_urls"
XCOM_USAGE = "usage"


def build_result(
    state: GenerationState, *, model: str, video_files: list[str] | None = None
) -> dict[str, Any]:
    """The JSON dict a completed generation leaves in XCom; ``usage`` passes through untouched."""
    result: dict[str, Any] = {
        "generation_id": state.generation_id,
        "model": state.model or model,
        "status": "completed",
        "video_urls": state.video_urls,
        "usage": dict(state.usage),
        "metadata": dict(state.metadata),
    }
    if video_files is not None:
        result["video_files"] = video_files
    return result


def failure_error(state: GenerationState, *, watched: bool = False) -> I2VError:
    """The typed error of a failed generation: the gateway's code and message, and its id.

    For the operator a new try submits a new generation, so the error is retryable; for a
    sensor (``watched``), which never submits, a retry could only read the same failure.
    """
    error = state.error
    if error is None:
        what = "the generation failed"
    elif error.message == error.meaning:
        what = error.message
    else:
        what = f"{error.message} ({error.meaning})"
    if watched:
        return I2VWatchedGenerationFailedError(
            f"{what}; the sensor does not resubmit, so it fails without retrying",
            code=error.code if error else None,
            generation_id=state.generation_id,
        )
    return I2VGenerationFailedError(
        f"{what}; a new try submits a new generation",
        code=error.code if error else None,
        generation_id=state.generation_id,
    )


def state_from_event(event: dict[str, Any], timeout_error: Callable[[str], BaseException]) -> GenerationState:
    """The terminal state a trigger reported; a timeout or error event raises its typed error."""
    status = event.get("status")
    if status in (GenerationStatus.COMPLETED.value, GenerationStatus.FAILED.value):
        return parse_generation(event["response"])
    if status == EVENT_TIMEOUT:
        raise timeout_error(str(event.get("generation_id")))
    raise error_from_event(event)


def publish(context: Context, result: dict[str, Any]) -> None:
    """Push the result's parts under their own XCom keys (the video link is derived from them)."""
    ti = context["ti"]
    ti.xcom_push(key=XCOM_VIDEO_URLS, value=result["video_urls"])
    ti.xcom_push(key=XCOM_USAGE, value=result["usage"])
