"""Server side: the bodies the gateway sends, for the simulator (docs/simulator.md shows them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .answers import USAGE_COST, OutputItem
from .errors import GenerationError


def render_usage(cost: str | int | float, **extra: Any) -> dict[str, Any]:
    """A completed answer's ``usage``: the cost plus ``discount`` and any extras."""
    return {USAGE_COST: cost, "discount": 0, **extra}


def render_generation(
    *,
    generation_id: str,
    status: str,
    model: str,
    created_at: float,
    progress: float | None = None,
    outputs: list[OutputItem] | None = None,
    usage: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    error: GenerationError | Mapping[str, Any] | str | None = None,
) -> dict[str, Any]:
    """A create or poll answer."""
    body: dict[str, Any] = {"id": generation_id, "status": status, "model": model, "created_at": created_at}
    if progress is not None:
        body["progress"] = progress
    if outputs is not None:
        body["output"] = [{"content": [{"type": item.type, "url": item.url} for item in outputs]}]
    if usage is not None:
        body["usage"] = dict(usage)
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if isinstance(error, GenerationError):
        body["error"] = error.to_payload()
    elif isinstance(error, Mapping):
        body["error"] = dict(error)
    elif error is not None:
        body["error"] = error
    return body


def render_error(message: str) -> dict[str, Any]:
    """An HTTP-level error body."""
    return {"message": message}
