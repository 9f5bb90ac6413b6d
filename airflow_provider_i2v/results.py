"""The shape of what a generation step returns to XCom (SPEC.md, "Return value").

The operator and the sensor both return it, so it is built in one place.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import (
    I2VError,
    I2VGenerationFailedError,
    I2VWatchedGenerationFailedError,
)
from airflow_provider_i2v.protocol import GenerationState

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.state import Entry

#: XCom keys pushed besides ``return_value`` (``generation_id`` is pushed by the ledger).
XCOM_VIDEO_URLS = "video_urls"
XCOM_USAGE = "usage"
#: Pushed when a try fails with a provider error, for summaries of mapped runs (Airflow
#: clears a task instance's XCom when it is retried, so it describes the last try only).
XCOM_ERROR = "error"


def build_result(
    state: GenerationState,
    *,
    model: str,
    files: list[dict[str, Any]] | None = None,
    uncertain_creates: int = 0,
) -> dict[str, Any]:
    """The JSON dict a completed generation leaves in XCom; ``usage`` passes through untouched.

    ``files`` are the copies kept in ``output_dir`` (``{"uri", "size", "sha256",
    "source_url"}``): their URIs are ``video_files``, the records are ``files``.
    ``uncertain_creates`` counts earlier creates of this task instance whose outcome was
    never known: each may be a generation paid for but never delivered.
    """
    result: dict[str, Any] = {
        "generation_id": state.generation_id,
        "model": state.model or model,
        "status": "completed",
        "video_urls": state.video_urls,
        "usage": dict(state.usage),
        "metadata": dict(state.metadata),
        "uncertain_creates": uncertain_creates,
    }
    if files is not None:
        result["video_files"] = [f["uri"] for f in files]
        result["files"] = files
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


def publish(context: Context, result: dict[str, Any]) -> None:
    """Push the result's parts under their own XCom keys (the video link is derived from them)."""
    ti = context["ti"]
    ti.xcom_push(key=XCOM_VIDEO_URLS, value=result["video_urls"])
    ti.xcom_push(key=XCOM_USAGE, value=result["usage"])


def complete(
    task: Any, context: Context, state: GenerationState, entry: Entry, files: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """A completed generation as the task's result: built, pushed, its asset events described."""
    from airflow_provider_i2v.assets import emit_asset_events

    if not state.video_urls:
        task.log.warning("Generation %s completed without any video URL", state.generation_id)
    result = build_result(state, model=task.model, files=files, uncertain_creates=entry.uncertain_creates)
    publish(context, result)
    emit_asset_events(list(task.outlets), context, result)
    elapsed = f" in {time.time() - entry.submitted_at:.0f} s" if entry.submitted_at else ""
    task.log.info(
        "Generation %s completed%s: %s; cost %s USD",
        state.generation_id,
        elapsed,
        ", ".join(result["video_urls"]) or "no video URL",
        state.usage.get("cost", "unknown"),
    )
    return result


def publish_error(context: Context, error: I2VError) -> None:
    """Push what went wrong (best effort: the error itself is what fails the task)."""
    payload = {
        "error_class": type(error).__name__,
        "code": error.code,
        "message": error.message,
        "generation_id": error.generation_id,
    }
    with contextlib.suppress(Exception):  # never hide the real failure behind a failed push
        context["ti"].xcom_push(key=XCOM_ERROR, value=payload)


@contextlib.contextmanager
def errors_published(context: Context) -> Iterator[None]:
    """Push a provider error to XCom (``error``) on its way out, for downstream summaries."""
    try:
        yield
    except I2VError as error:
        publish_error(context, error)
        raise
