"""Generations the simulator holds, and their time-based life cycle.

A generation's fate (its duration, whether and how it fails, what its output file
will be) is fixed when it is created, from the config of that moment and the seeded
random source, so a run is reproducible and a later config change never rewrites
history. How it is *reported* (status spellings, progress granularity, the queue
phase, error shape...) follows the config at poll time, so a test can flip a
spelling without re-creating anything.

Render time: ``fixed`` gives every generation ``generation_seconds``; ``lognormal``
draws each one's time once, at creation, with median ``generation_seconds`` and 95th
percentile ``generation_seconds_p95`` (sigma = ln(p95 / median) / 1.645), which is
how render farms behave: most jobs near the median, a long tail of slow ones.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.protocol import (
    ID_ALPHABET,
    ID_LENGTH,
    KNOWN_ERROR_CODES,
    UNKNOWN_FAILURE,
    GenerationStatus,
)

from .config import SimConfig
from .media import MediaSpec

#: Progress never reaches 1.0 while running: 1.0 belongs to the completed answer.
MAX_RUNNING_PROGRESS = 0.99
#: The standard normal's 95th percentile.
_Z95 = 1.6448536269514722


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
    #: What its output file will be (fixed now, so every download gets the same bytes).
    media: MediaSpec | None = None

    def phase(self, now: float) -> GenerationStatus:
        """Running until ``duration`` has passed, then completed or failed."""
        if now - self.started < self.duration:
            return GenerationStatus.RUNNING
        return GenerationStatus.FAILED if self.failure else GenerationStatus.COMPLETED

    def elapsed_fraction(self, now: float) -> float:
        """How much of its time has passed, in 0..1."""
        if self.duration <= 0:
            return 1.0
        return min(max(now - self.started, 0.0) / self.duration, 1.0)

    def queued(self, now: float, queue_fraction: float) -> bool:
        """Still in its queue phase (the first ``queue_fraction`` of its time)."""
        return self.elapsed_fraction(now) < queue_fraction

    def progress(self, now: float, *, queue_fraction: float = 0.0, step: float | None = None) -> float:
        """Progress while running: 0 while queued, then linear, rounded down to ``step``.

        Always below 1.0 (capped at :data:`MAX_RUNNING_PROGRESS`): 1.0 is the completed answer's.
        """
        fraction = self.elapsed_fraction(now)
        if queue_fraction > 0:
            fraction = (
                max(fraction - queue_fraction, 0.0) / (1.0 - queue_fraction) if queue_fraction < 1 else 0.0
            )
        if step is not None:
            fraction = math.floor(round(fraction / step, 9)) * step
        return round(min(fraction, MAX_RUNNING_PROGRESS), 3)

    def to_dict(self, now: float) -> dict[str, Any]:
        """The listing served by ``GET /_sim/generations``."""
        return {
            "id": self.generation_id,
            "model": self.model,
            "created_at": self.created_at,
            "state": self.phase(now).value,
            "polls": self.polls,
            "fail_code": self.failure[0] if self.failure else None,
            "duration": self.duration,
        }


def draw_duration(config: SimConfig, rng: random.Random) -> float:
    """One generation's time under ``render_time`` (``fixed`` draws nothing from ``rng``)."""
    median = float(config.generation_seconds)
    if config.render_time == "fixed" or median <= 0 or config.generation_seconds_p95 is None:
        return median
    sigma = math.log(config.generation_seconds_p95 / median) / _Z95
    return median * math.exp(sigma * rng.gauss(0.0, 1.0))


def draw_failure(config: SimConfig, rng: random.Random) -> tuple[str, str] | None:
    """Whether a new generation will fail, and with which code and message."""
    rate = config.effective_fail_rate
    if not (rate >= 1 or (rate > 0 and rng.random() < rate)):
        return None
    code = config.fail_code or rng.choice(sorted(KNOWN_ERROR_CODES))
    return code, config.fail_message or KNOWN_ERROR_CODES.get(code, UNKNOWN_FAILURE)


class GenerationStore:
    """The generations created so far, by id; thread-safe for the test thread's reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Generation] = {}

    def create(
        self,
        *,
        model: str,
        config: SimConfig,
        rng: random.Random,
        now: float,
        wall: float,
        media: MediaSpec | None = None,
    ) -> Generation:
        """A new generation with a fresh id and its fate decided now."""
        failure = draw_failure(config, rng)
        with self._lock:
            generation_id = _new_id(rng)
            while generation_id in self._items:
                generation_id = _new_id(rng)
            generation = Generation(
                generation_id=generation_id,
                model=model,
                created_at=wall,
                started=now,
                duration=draw_duration(config, rng),
                failure=failure,
                media=media,
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
