"""The gateway's JSON answers for the simulator's generations.

Bodies are built by :func:`protocol.render_generation`; only the tolerated variants
the protocol module does not render (an error with ``message``, a string code, output
extras, an empty ``output``, a queue-phase status) are chosen here, from the config
at answer time.
"""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_i2v.protocol import (
    KNOWN_ERROR_CODES,
    UNKNOWN_FAILURE,
    GenerationError,
    GenerationStatus,
    OutputItem,
    render_generation,
    render_usage,
)

from .config import SimConfig
from .generations import Generation


def _created_at(wall: float, config: SimConfig) -> int:
    return int(wall * 1000) if config.created_at_unit == "milliseconds" else int(wall)


def render_created(generation: Generation, config: SimConfig) -> dict[str, Any]:
    """The create answer: ``{"id", "status", "model", "created_at"}``."""
    return render_generation(
        generation_id=generation.generation_id,
        status=config.running_status,
        model=generation.model,
        created_at=_created_at(generation.created_at, config),
    )


def render_creation_failed(model: str, config: SimConfig) -> dict[str, Any]:
    """A 200 create answer without an ``id``: a failed creation, carrying its ``error``.

    The vendor's CLI reads a 200 without an id as a failed creation and shows the
    error's message; nothing was created. The error has the configured shape and code
    form, like a failed generation's.
    """
    code = config.create_error_code
    body = render_generation(
        generation_id="",
        status=config.failed_status,
        model=model,
        created_at=_created_at(time.time(), config),
        error=render_error_field(code, KNOWN_ERROR_CODES.get(code, UNKNOWN_FAILURE), config),
    )
    del body["id"]
    return body


def render_polled(generation: Generation, config: SimConfig, now: float, file_url: str) -> dict[str, Any]:
    """A poll answer for ``generation`` at simulator time ``now``.

    The first ``unknown_status_polls`` polls of each generation say ``unknown_status``;
    ``generation.polls`` must already count this poll.
    """
    common: dict[str, Any] = {
        "generation_id": generation.generation_id,
        "model": generation.model,
        "created_at": _created_at(generation.created_at, config),
    }
    if generation.polls <= config.unknown_status_polls:
        return render_generation(status=config.unknown_status, **common)
    phase = generation.phase(now)
    if phase is GenerationStatus.RUNNING:
        status = config.running_status
        if config.queue_status is not None and generation.queued(now, config.queue_fraction):
            status = config.queue_status
        progress = None
        if config.report_progress:
            progress = generation.progress(
                now, queue_fraction=config.queue_fraction, step=config.progress_step
            )
        return render_generation(status=status, progress=progress, **common)
    if phase is GenerationStatus.FAILED and generation.failure is not None:
        code, message = generation.failure
        return render_generation(
            status=config.failed_status, error=render_error_field(code, message, config), **common
        )
    return _render_completed(generation, config, common, file_url)


def _render_completed(
    generation: Generation, config: SimConfig, common: dict[str, Any], file_url: str
) -> dict[str, Any]:
    outputs = [OutputItem(type="video", url=file_url)] if config.output_mode == "video" else []
    usage = render_usage(config.cost, **config.usage_extra)
    metadata = {
        "in_queue_at": round(generation.created_at, 3),
        "completed_at": round(generation.created_at + generation.duration, 3),
    }
    body = render_generation(
        status=config.completed_status,
        progress=1.0 if config.report_progress else None,
        outputs=outputs,
        usage=usage,
        metadata=metadata,
        **common,
    )
    if config.output_mode == "empty":
        body["output"] = []
    elif outputs and config.output_extra:
        body["output"][0]["content"][0].update(config.output_extra)
    return body


def render_error_field(code: str, message: str, config: SimConfig) -> dict[str, Any] | str:
    """A failure's ``error`` in the configured shape: an object (code as int or string) or text."""
    if config.error_shape == "string":
        return message
    return GenerationError(code=code, message=message).to_payload(
        message_key="message" if config.error_shape == "object_message" else "error_message",
        code_as_int=config.error_code_form == "int",
    )
