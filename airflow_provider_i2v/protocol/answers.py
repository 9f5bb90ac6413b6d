"""Reading a create or poll answer into a :class:`GenerationState`.

Everything the gateway has been seen to send is tolerated here (status spellings, error
shapes, cost as string or number, ``created_at`` in seconds or milliseconds, extra
keys). Anything that still cannot be read raises :class:`MalformedResponseError`,
which callers treat as transient: no answer, however odd (NaN, a 400-digit number,
a list where an object belongs), escapes as any other exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import GenerationError
from .statuses import GenerationStatus, normalise_status
from .values import finite_float, is_int

#: ``usage`` key of the cost; every other usage key passes through untouched.
USAGE_COST = "cost"
#: ``created_at`` values above this are milliseconds (year 5138 in seconds).
_MILLISECONDS_ABOVE = 100_000_000_000


class MalformedResponseError(ValueError):
    """An answer that cannot be read as the contract says (treated as transient)."""


class MissingGenerationIdError(MalformedResponseError):
    """A JSON object without ``id``: for a create, a failed creation (nothing was created)."""

    def __init__(self, message: str, *, gateway_error: GenerationError | None = None) -> None:
        super().__init__(message)
        #: The ``error`` such an answer may carry (the vendor CLI shows its message).
        self.gateway_error = gateway_error


@dataclass(frozen=True)
class OutputItem:
    """One generated file: ``type`` is video, image or audio."""

    type: str
    url: str


@dataclass(frozen=True)
class GenerationState:
    """A generation as one create or poll answer describes it."""

    generation_id: str
    status: GenerationStatus
    raw_status: str
    status_known: bool
    model: str | None = None
    created_at: float | None = None
    progress: float | None = None
    outputs: tuple[OutputItem, ...] = ()
    usage: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: GenerationError | None = None
    #: The answer as received, for passing on (e.g. in a trigger event) and re-reading.
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def video_urls(self) -> list[str]:
        return [item.url for item in self.outputs if item.type == "video"]

    @property
    def output_urls(self) -> list[str]:
        return [item.url for item in self.outputs]

    @property
    def cost(self) -> Decimal | None:
        return cost_of(self.usage)

    @property
    def render_seconds(self) -> float | None:
        """How long the gateway says the render took (``metadata``: ``completed_at`` minus
        ``in_queue_at``, both on its clock), when it says so."""
        started = finite_float(self.metadata.get("in_queue_at"))
        done = finite_float(self.metadata.get("completed_at"))
        return done - started if started is not None and done is not None and done > started else None


def parse_created_at(raw: Any) -> float | None:
    """Seconds since the epoch, from seconds or milliseconds; ``None`` if unreadable."""
    value = finite_float(raw)
    if value is None:
        return None
    return value / 1000.0 if value > _MILLISECONDS_ABOVE else value


def parse_progress(raw: Any) -> float | None:
    """``progress`` as a fraction in 0..1; absent, NaN or out-of-range values are ``None``."""
    value = finite_float(raw)
    if value is None or not 0.0 <= value <= 1.0:
        return None
    return value


#: A cost beyond 10**12 dollars, or finer than 10**-12, is not a price.
MAX_COST_DIGITS = 12


def cost_of(usage: Mapping[str, Any]) -> Decimal | None:
    """The exact cost in US dollars: ``"0.2800"`` or a number; ``""`` or absent is unknown."""
    raw = usage.get(USAGE_COST)
    if raw is None or isinstance(raw, bool) or raw == "":
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    # A cost is dollars and cents: an exponent that no price has ("1e999999999") would
    # overflow any sum of costs (decimal.Overflow), so it is unreadable, like "abc".
    if not value.is_finite() or abs(value.adjusted()) > MAX_COST_DIGITS:
        return None
    return value


def _parse_outputs(raw: Any) -> tuple[OutputItem, ...]:
    if not isinstance(raw, list):
        return ()
    items: list[OutputItem] = []
    for group in raw:
        content = group.get("content") if isinstance(group, dict) else None
        if not isinstance(content, list):
            continue
        for entry in content:
            if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry["url"]:
                items.append(OutputItem(type=str(entry.get("type") or "video").lower(), url=entry["url"]))
    return tuple(items)


def _generation_id(payload: dict[str, Any]) -> str | None:
    raw = payload.get("id")
    if is_int(raw):
        return str(raw)
    return raw if isinstance(raw, str) and raw else None


def parse_generation(payload: Any) -> GenerationState:
    """Read a create or poll answer; anything unreadable is :class:`MalformedResponseError`."""
    if not isinstance(payload, dict):
        raise MalformedResponseError("the answer is not a JSON object")
    generation_id = _generation_id(payload)
    if generation_id is None:
        error = payload.get("error")
        raise MissingGenerationIdError(
            "the answer has no generation 'id'",
            gateway_error=GenerationError.from_payload(error) if error else None,
        )
    raw_status = payload.get("status")
    status, known = normalise_status(raw_status)
    usage = payload.get("usage")
    metadata = payload.get("metadata")
    model = payload.get("model")
    try:
        error = (
            GenerationError.from_payload(payload.get("error")) if status is GenerationStatus.FAILED else None
        )
        return GenerationState(
            generation_id=generation_id,
            status=status,
            raw_status=str(raw_status),
            status_known=known,
            model=model if isinstance(model, str) else None,
            created_at=parse_created_at(payload.get("created_at")),
            progress=parse_progress(payload.get("progress")),
            outputs=_parse_outputs(payload.get("output")),
            usage=dict(usage) if isinstance(usage, dict) else {},
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
            error=error,
            raw=payload,
        )
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise MalformedResponseError(f"the answer cannot be read ({type(exc).__name__}: {exc})") from None


def decode_json(body: bytes) -> Any:
    """Decode a JSON answer; anything else is :class:`MalformedResponseError`."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedResponseError(f"the answer is not JSON ({len(body)} bytes)") from exc
