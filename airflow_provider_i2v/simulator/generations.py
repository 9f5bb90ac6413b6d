"""Generations the simulator holds, their time-based life cycle, and their JSON answers.

A generation's fate (its duration, and whether and how it fails) is fixed when it
is created, from the config of that moment and the seeded random source, so a run
is reproducible and a later config change never rewrites history. How it is
*reported* (status spellings, error shape, cost form...) follows the config at poll
time, so a test can flip a spelling without re-creating anything. Bodies are built
by :func:`protocol.render_generation`; only the tolerated variants the protocol
module does not render (an error with ``message``, an integer code, output extras,
an empty ``output``) are adjusted here.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.protocol import (
    ID_ALPHABET,
    ID_LENGTH,
    KNOWN_ERROR_CODES,
    GenerationError,
    GenerationStatus,
    OutputItem,
    render_generation,
    render_usage,
)

from .config import SimConfig

#: Progress never reaches 1.0 while running: 1.0 belongs to the completed answer.
_MAX_RUNNING_PROGRESS = 0.99


@dataclass
class Generation:
    """One generation: its identity, timing (simulator clock) and fixed fate."""

    generation_id: str
    model: str
    created_at: float  # wall clock, seconds since the epoch
    started: float  # simulator clock (monotonic + advance offset)
    duration: float
    failure: tuple[str, str] | None  # (nine-digit code or vendor text, message)
    polls: int = 0

    def phase(self, now: float) -> GenerationStatus:
        """Running until ``duration`` has passed, then completed or failed."""
        if now - self.started < self.duration:
            return GenerationStatus.RUNNING
        return GenerationStatus.FAILED if self.failure else GenerationStatus.COMPLETED

    def progress(self, now: float) -> float:
        """Fraction of the duration elapsed, capped below 1.0."""
        if self.duration <= 0:
            return _MAX_RUNNING_PROGRESS
        return round(min(max(now - self.started, 0.0) / self.duration, _MAX_RUNNING_PROGRESS), 3)

    def to_dict(self, now: float) -> dict[str, Any]:
        """The listing served by ``GET /_sim/generations``."""
        return {
            "id": self.generation_id,
            "model": self.model,
            "created_at": self.created_at,
            "state": self.phase(now).value,
            "polls": self.polls,
            "fail_code": self.failure[0] if self.failure else None,
        }


class GenerationStore:
    """The generations created so far, by id; thread-safe for the test thread's reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Generation] = {}

    def create(
        self, *, model: str, config: SimConfig, rng: random.Random, now: float, wall: float
    ) -> Generation:
        """A new generation with a fresh 20-character id and its fate decided now."""
        rate = config.effective_fail_rate
        failure: tuple[str, str] | None = None
        if rate >= 1 or (rate > 0 and rng.random() < rate):
            code = config.fail_code or rng.choice(sorted(KNOWN_ERROR_CODES))
            message = config.fail_message or KNOWN_ERROR_CODES.get(code, "unknown vendor failure")
            failure = (code, message)
        with self._lock:
            generation_id = _new_id(rng)
            while generation_id in self._items:
                generation_id = _new_id(rng)
            generation = Generation(
                generation_id=generation_id,
                model=model,
                created_at=wall,
                started=now,
                duration=float(config.generation_seconds),
                failure=failure,
            )
            self._items[generation_id] = generation
        return generation

    def get(self, generation_id: str) -> Generation | None:
        with self._lock:
            return self._items.get(generation_id)

    def all(self) -> list[Generation]:
        with self._lock:
            return list(self._items.values())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def _new_id(rng: random.Random) -> str:
    return "".join(rng.choices(ID_ALPHABET, k=ID_LENGTH))


def _created_at(generation: Generation, config: SimConfig) -> int:
    if config.created_at_unit == "milliseconds":
        return int(generation.created_at * 1000)
    return int(generation.created_at)


def render_created(generation: Generation, config: SimConfig) -> dict[str, Any]:
    """The create answer: ``{"id", "status", "model", "created_at"}``."""
    return render_generation(
        generation_id=generation.generation_id,
        status=config.running_status,
        model=generation.model,
        created_at=_created_at(generation, config),
    )


def render_polled(generation: Generation, config: SimConfig, now: float, file_url: str) -> dict[str, Any]:
    """A poll answer for ``generation`` at simulator time ``now``.

    The first ``unknown_status_polls`` polls of each generation say ``unknown_status``;
    ``generation.polls`` must already count this poll.
    """
    common: dict[str, Any] = {
        "generation_id": generation.generation_id,
        "model": generation.model,
        "created_at": _created_at(generation, config),
    }
    if generation.polls <= config.unknown_status_polls:
        return render_generation(status=config.unknown_status, **common)
    phase = generation.phase(now)
    if phase is GenerationStatus.RUNNING:
        progress = generation.progress(now) if config.report_progress else None
        return render_generation(status=config.running_status, progress=progress, **common)
    if phase is GenerationStatus.FAILED and generation.failure is not None:
        return _render_failed(generation.failure, config, common)
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


def _render_failed(failure: tuple[str, str], config: SimConfig, common: dict[str, Any]) -> dict[str, Any]:
    code, message = failure
    error: dict[str, Any] | str = message
    if config.error_shape != "string":
        error = GenerationError(code=code, message=message).to_payload(
            message_key="message" if config.error_shape == "object_message" else "error_message",
            code_as_int=config.error_code_form == "int",
        )
    return render_generation(status=config.failed_status, error=error, **common)
