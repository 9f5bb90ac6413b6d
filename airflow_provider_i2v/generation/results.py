"""What a generation step leaves in XCom, built in one place for the operator and the sensor.

The return value: ``{"generation_id", "model", "status": "completed", "video_urls", "usage",
"metadata", "uncertain_creates"}``, plus ``"video_files"`` and ``"files"`` with ``output_dir``;
``usage`` and ``metadata`` pass through as the gateway sent them. Failures become typed
errors carrying the gateway's code and message and the generation id; their payload (for
XCom and for trigger events) is built by :func:`error_payload`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow_provider_i2v import exceptions
from airflow_provider_i2v.exceptions import (
    I2VError,
    I2VGenerationFailedError,
    I2VWatchedGenerationFailedError,
)
from airflow_provider_i2v.generation.keys import (
    RESULT_FILES,
    RESULT_UNCERTAIN_CREATES,
    RESULT_VIDEO_FILES,
    XCOM_ERROR,
    XCOM_USAGE,
    XCOM_VIDEO_URLS,
)
from airflow_provider_i2v.generation.outcome import Outcome


def build_result(
    outcome: Outcome, *, model: str, files: list[dict[str, Any]] | None = None, uncertain_creates: int = 0
) -> dict[str, Any]:
    """The JSON dict a completed generation leaves in XCom.

    ``files`` are the copies kept in ``output_dir`` (``{"uri", "size", "sha256",
    "source_url"}``); ``uncertain_creates`` counts creates of this slot whose outcome was never
    known: each may be a generation paid for but never delivered.
    """
    result: dict[str, Any] = {
        "generation_id": outcome.generation_id,
        "model": outcome.model or model,
        "status": "completed",
        "video_urls": list(outcome.video_urls),
        "usage": dict(outcome.usage),
        "metadata": dict(outcome.metadata),
        RESULT_UNCERTAIN_CREATES: uncertain_creates,
    }
    if files is not None:
        result[RESULT_VIDEO_FILES] = [f["uri"] for f in files]
        result[RESULT_FILES] = files
    return result


def failure_error(outcome: Outcome, *, watched: bool = False) -> I2VError:
    """The typed error of a failed generation: the gateway's code and message, and its id.

    For the operator a new try submits a new generation, so the error is retryable; for a
    sensor (``watched``), which never submits, a retry could only read the same failure.
    """
    error = outcome.error
    if error is None:
        what = "the generation failed"
    elif error.message == error.meaning:
        what = error.message
    else:
        what = f"{error.message} ({error.meaning})"
    code = error.code if error else None
    if watched:
        return I2VWatchedGenerationFailedError(
            f"{what}; the sensor does not resubmit, so it fails without retrying",
            code=code,
            generation_id=outcome.generation_id,
        )
    return I2VGenerationFailedError(
        f"{what}; a new try submits a new generation", code=code, generation_id=outcome.generation_id
    )


def publish(ti: Any, result: dict[str, Any]) -> None:
    """Push the result's parts under their own XCom keys (the video link reads them)."""
    ti.xcom_push(key=XCOM_VIDEO_URLS, value=result["video_urls"])
    ti.xcom_push(key=XCOM_USAGE, value=result["usage"])


def error_payload(error: I2VError) -> dict[str, Any]:
    """A provider error as JSON (XCom ``error``, trigger events); :func:`error_from_payload` reads it."""
    return {
        "error_class": type(error).__name__,
        "code": error.code,
        "message": error.message,
        "generation_id": error.generation_id,
    }


def error_from_payload(payload: dict[str, Any]) -> I2VError:
    """Rebuild the typed error by class name (only this provider's classes)."""
    name = str(payload.get("error_class") or "I2VError")
    cls = getattr(exceptions, name, None)
    if not (isinstance(cls, type) and issubclass(cls, I2VError)):
        cls = I2VError
    return cls(
        str(payload.get("message") or "the trigger reported an error"),
        code=payload.get("code"),
        generation_id=payload.get("generation_id"),
    )


@contextlib.contextmanager
def errors_published(ti: Any) -> Iterator[None]:
    """Push a provider error to XCom (``error``) on its way out, for downstream summaries
    (best effort: the error itself is what fails the task)."""
    try:
        yield
    except I2VError as error:
        with contextlib.suppress(Exception):
            ti.xcom_push(key=XCOM_ERROR, value=error_payload(error))
        raise
