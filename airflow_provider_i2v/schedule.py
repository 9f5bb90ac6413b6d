"""When to poll next: polls that follow the render instead of a fixed clock.

A fixed interval polls a two-minute render twelve times at 10 s; most of those polls
can only say "still running". The schedule therefore estimates when the generation
can plausibly be finished and sleeps until shortly before that, from what it knows:

* the gateway's ``progress``: elapsed / progress is the expected total (the vendor's
  CLI shows progress, so the gateway sends it; it may be absent or coarse);
* otherwise, the render times of recent completions of the same model in this
  process (:class:`RenderTimes`, bounded): nothing finishes much earlier than the
  fastest recent renders;
* otherwise, nothing: it polls every ``poll_interval``.

``poll_interval`` keeps a meaning a user can rely on: once completion is plausible
(past the estimate's early edge), it is detected within ``poll_interval``. No sleep is
longer than ``max_poll_interval`` or runs past the deadline. ``adaptive=False`` is
the plain fixed interval.
"""

from __future__ import annotations

import collections
import random
import threading
from dataclasses import dataclass

#: Below this progress, elapsed / progress is too noisy to extrapolate from.
_MIN_PROGRESS = 0.05
#: Wake this share of the expected total before the expected finish (progress may be uneven).
_PROGRESS_MARGIN = 0.1
#: Render times kept per model, and how many are needed before they are trusted.
_SAMPLES_KEPT = 128
_SAMPLES_NEEDED = 8
#: The early edge of recent render times: few renders finish faster than this quantile.
_EARLY_QUANTILE = 0.05
#: Polls spread by +-10 %, so generations submitted together do not poll in bursts.
_JITTER = 0.1


class RenderTimes:
    """Recent render times (seconds) per model in this process: small, bounded, thread-safe."""

    def __init__(self, kept: int = _SAMPLES_KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._samples: dict[str, collections.deque[float]] = {}

    def record(self, model: str, seconds: float) -> None:
        if not seconds > 0:
            return
        with self._lock:
            self._samples.setdefault(model, collections.deque(maxlen=self._kept)).append(seconds)

    def early_edge(self, model: str) -> float | None:
        """The :data:`_EARLY_QUANTILE` of recent render times, once enough are known."""
        with self._lock:
            samples = self._samples.get(model)
            if samples is None or len(samples) < _SAMPLES_NEEDED:
                return None
            ordered = sorted(samples)
        return ordered[int(_EARLY_QUANTILE * (len(ordered) - 1))]

    def clear(self) -> None:
        with self._lock:
            self._samples.clear()


#: The process-wide estimator every trigger, sensor and blocking wait of this process shares.
RENDER_TIMES = RenderTimes()


@dataclass(frozen=True)
class PollSchedule:
    """The delays between polls of one generation."""

    poll_interval: float
    max_poll_interval: float
    adaptive: bool = True
    model: str | None = None
    render_times: RenderTimes = RENDER_TIMES

    def __post_init__(self) -> None:
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval: must be > 0 seconds, got {self.poll_interval!r}")
        if self.max_poll_interval < self.poll_interval:
            raise ValueError(
                f"max_poll_interval: must be >= poll_interval ({self.poll_interval}), "
                f"got {self.max_poll_interval!r}"
            )

    def next_delay(self, elapsed: float | None, progress: float | None, remaining: float | None) -> float:
        """Seconds until the next poll.

        :param elapsed: seconds since the generation was submitted (``None``: unknown).
        :param progress: the last ``progress`` the gateway reported (``None``: none).
        :param remaining: seconds until the deadline (``None``: no deadline).
        """
        delay = self.poll_interval
        if self.adaptive and elapsed is not None:
            delay = max(delay, self._until_plausible(elapsed, progress))
        delay = min(delay * random.uniform(1 - _JITTER, 1 + _JITTER), self.max_poll_interval)
        if remaining is not None:
            delay = min(delay, max(0.0, remaining))
        return delay

    def _until_plausible(self, elapsed: float, progress: float | None) -> float:
        """Seconds until completion becomes plausible (0: it already is)."""
        if progress is not None and _MIN_PROGRESS <= progress < 1.0:
            expected_total = elapsed / progress
            return expected_total * (1 - _PROGRESS_MARGIN) - elapsed
        if self.model is not None and (edge := self.render_times.early_edge(self.model)) is not None:
            return edge - elapsed
        return 0.0

    def completed(self, elapsed: float | None) -> None:
        """Learn from a completion observed ``elapsed`` seconds after submission."""
        if self.model is not None and elapsed is not None:
            self.render_times.record(self.model, elapsed)


__all__ = ["RENDER_TIMES", "PollSchedule", "RenderTimes"]
