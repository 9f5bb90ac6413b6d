"""A terminal generation as one compact value: in trigger events, records, results and manifests.

A gateway answer can be megabytes; a trigger event is stored in the metadata database and a
record in ``task_state_store``. An :class:`Outcome` keeps only what the worker needs after
the wait: the status, the links, usage and metadata (passed through untouched, but bounded),
the error and the render time. It is built once from a
:class:`~airflow_provider_i2v.protocol.GenerationState` and read back everywhere else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airflow_provider_i2v.protocol import GenerationError, GenerationState, GenerationStatus, cost_of

#: ``usage`` and ``metadata`` pass through untouched up to this many bytes of JSON each;
#: beyond, they are replaced by a note (a gateway that sends megabytes there is not
#: describing one video).
MAX_PASSTHROUGH_BYTES = 16 * 1024


@dataclass(frozen=True)
class Outcome:
    """What became of one generation."""

    generation_id: str
    status: GenerationStatus
    model: str | None = None
    video_urls: tuple[str, ...] = ()
    #: Every output link (videos first, then any image or audio the gateway returned).
    output_urls: tuple[str, ...] = ()
    usage: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: GenerationError | None = None
    render_seconds: float | None = None

    @property
    def completed(self) -> bool:
        return self.status is GenerationStatus.COMPLETED

    @property
    def cost(self) -> Decimal | None:
        return cost_of(self.usage)

    @classmethod
    def from_state(cls, state: GenerationState) -> Outcome:
        return cls(
            generation_id=state.generation_id,
            status=state.status,
            model=state.model,
            video_urls=tuple(state.video_urls),
            output_urls=tuple(state.output_urls),
            usage=_bounded(state.usage),
            metadata=_bounded(state.metadata),
            error=state.error,
            render_seconds=state.render_seconds,
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"generation_id": self.generation_id, "status": self.status.value}
        if self.model:
            data["model"] = self.model
        if self.video_urls:
            data["video_urls"] = list(self.video_urls)
        if self.output_urls != self.video_urls:
            data["output_urls"] = list(self.output_urls)
        if self.usage:
            data["usage"] = self.usage
        if self.metadata:
            data["metadata"] = self.metadata
        if self.error is not None:
            data["error"] = {"code": self.error.code, "message": self.error.message}
        if self.render_seconds is not None:
            data["render_seconds"] = self.render_seconds
        return data

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Outcome:
        error = raw.get("error")
        videos = tuple(raw.get("video_urls") or ())
        render = raw.get("render_seconds")
        return cls(
            generation_id=str(raw["generation_id"]),
            status=GenerationStatus(raw["status"]),
            model=raw.get("model"),
            video_urls=videos,
            output_urls=tuple(raw.get("output_urls") or videos),
            usage=dict(raw.get("usage") or {}),
            metadata=dict(raw.get("metadata") or {}),
            error=GenerationError(error.get("code"), str(error.get("message") or ""))
            if isinstance(error, dict)
            else None,
            render_seconds=float(render) if isinstance(render, int | float) else None,
        )

    def error_json(self) -> dict[str, Any] | None:
        """The error as a record and a manifest hold it."""
        return None if self.error is None else {"code": self.error.code, "message": self.error.message}


def _bounded(value: dict[str, Any]) -> dict[str, Any]:
    try:
        size = len(json.dumps(value))
    except (TypeError, ValueError):
        return {"dropped": "not JSON"}
    if size <= MAX_PASSTHROUGH_BYTES:
        return dict(value)
    kept = {k: v for k, v in value.items() if k == "cost" and isinstance(v, str | int | float)}
    return {**kept, "dropped": f"{size} bytes of JSON, more than {MAX_PASSTHROUGH_BYTES}"}
