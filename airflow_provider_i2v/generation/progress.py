"""Progress logging shared by the trigger, the blocking operator path and the sensor.

Logs tell the story without flooding: a line when the status changes (with the progress
if there is one), when progress crosses another 10 %, and once per unknown status
spelling, never one line per poll. Every trigger log line travels through the
triggerer's supervisor, whose log socket blocks the event loop when it falls behind (a
thousand triggers starting together): the first answer of a generation is one line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from airflow_provider_i2v.protocol import GenerationState


class ProgressReporter:
    """Remembers what was last said about one generation and says only what changed."""

    def __init__(
        self, generation_id: str, logger: logging.Logger | Any, started_at: float | None = None
    ) -> None:
        self.generation_id = generation_id
        self.log = logger
        self.started_at = started_at
        self._last_status: str | None = None
        self._last_decile = -1
        self._unknown_seen: set[str] = set()

    def elapsed(self) -> str:
        if self.started_at is None:
            return ""
        return f" after {max(0.0, time.time() - self.started_at):.0f} s"

    def observe(self, state: GenerationState) -> None:
        if not state.status_known and state.raw_status not in self._unknown_seen:
            self._unknown_seen.add(state.raw_status)
            self.log.warning(
                "Generation %s: unknown status %r, treated as still running",
                self.generation_id,
                state.raw_status,
            )
        decile, percent = -1, 0
        if state.progress is not None and not state.status.is_terminal:
            decile = int(max(0.0, min(1.0, state.progress)) * 10)
            percent = round(state.progress * 100)
        news = decile > self._last_decile
        if news:
            self._last_decile = decile
        if state.raw_status != self._last_status:
            self._last_status = state.raw_status
            done = f", {percent}% done" if news else ""
            self.log.info(
                "Generation %s: status %s%s%s", self.generation_id, state.raw_status, self.elapsed(), done
            )
        elif news:
            self.log.info("Generation %s: %d%% done", self.generation_id, percent)
