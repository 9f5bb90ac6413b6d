"""When to poll next: polls that follow the render instead of a fixed clock.

A fixed interval polls a two-minute render twelve times at 10 s; most of those polls
can only say "still running". The schedule therefore keeps a window of times at which
the generation can plausibly finish, from what it knows, and sleeps toward it:

* the gateway's ``progress``, once it has moved between two answers: its rate gives the
  earliest and the latest finish (allowing for progress reported in coarse steps, and
  waking a tenth of the remaining time early, since progress may be uneven); a single
  answer with progress gives the finish of a render that progressed from its submission,
  or, after a queue (progress seen at 0 first), an estimate approached half-way, so
  that a second answer measures the rate before the finish;
* otherwise, the render times of recent completions of the same model in this
  process (:class:`RenderTimes`, bounded): nothing finishes much earlier than the
  fastest recent renders;
* otherwise, nothing: it polls every ``poll_interval``.

``poll_interval`` keeps a meaning a user can rely on: once completion is plausible (past
the window's early edge), it is detected within ``poll_interval``. The first poll after
the early edge may therefore come up to ``poll_interval`` after it, and comes right
after the window's late edge when that is sooner, which is where a render that reports
its progress finishes. No sleep is longer than ``max_poll_interval`` or runs past the
deadline; far from the finish, sleeps are spread by +-10 % so generations submitted
together do not poll in bursts. ``adaptive=False`` is the plain fixed interval.

benchmarks/README.md shows what this saves on log-normal render times, with and
without progress, against fixed polling at the same detection latency.
"""

from __future__ import annotations

import collections
import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

#: Wake this share of the remaining time before the earliest finish the rate allows.
_PROGRESS_MARGIN = 0.1
#: Render times kept per model, and how many are needed before they are trusted.
_SAMPLES_KEPT = 128
_SAMPLES_NEEDED = 8
#: The early edge of recent render times: few renders finish faster than this quantile.
_EARLY_QUANTILE = 0.05
#: Polls far from the finish are spread by +-10 %.
_JITTER = 0.1
#: The first poll after the early edge comes this share of ``poll_interval`` after it, and
#: a poll aimed just past the late edge up to this share later (spreading them too).
_FIRST_PLAUSIBLE = 0.9
_PAST_LATE_EDGE = 0.05
#: Gateways hold progress just below 1 until the render is done (the simulator at 0.99):
#: from there on it may finish any moment.
_NEAR_DONE = 0.99
#: Coarsest progress steps recognised (a gateway that reports 0.1, 0.2 ... or 0.05 ...).
_STEPS = (0.1, 0.05, 0.01, 0.001)


class RenderTimes:
    """Recent render times (seconds) per model in this process: small, bounded, thread-safe."""

    def __init__(self, kept: int = _SAMPLES_KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._samples: dict[str, collections.deque[float]] = {}

    def record(self, model: str, seconds: float) -> None:
        if not seconds > 0 or math.isinf(seconds):
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


def _step(values: list[float]) -> float:
    """The granularity progress is reported in: the coarsest step every value is a multiple of."""
    for step in _STEPS:
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            return step
    return _STEPS[-1]


@dataclass
class _Seen:
    """What the answers of one generation said about its progress (the schedule's memory)."""

    #: The first answer whose progress had left 0, and the last answer with progress.
    first: tuple[float, float] | None = None
    last: tuple[float, float] | None = None
    #: When progress was last seen at 0 (a queue, or a render that has barely begun).
    last_zero: float | None = None
    #: When the generation was last seen running (with or without progress).
    last_running: float | None = None
    values: list[float] = field(default_factory=list)

    def add(self, elapsed: float, progress: float) -> None:
        if self.last is not None and elapsed <= self.last[0]:
            return  # the same answer again (a poll that failed is no new news)
        if progress <= 0:
            if self.first is None:
                self.last_zero = elapsed
            return
        if self.first is None:
            self.first = (elapsed, progress)
        self.last = (elapsed, progress)
        if len(self.values) < 16:
            self.values.append(progress)


@dataclass
class PollSchedule:
    """The delays between polls of one generation (one schedule per wait: it remembers)."""

    poll_interval: float
    max_poll_interval: float
    adaptive: bool = True
    model: str | None = None
    render_times: RenderTimes = RENDER_TIMES
    _seen: _Seen = field(default_factory=_Seen, init=False, repr=False, compare=False)

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
        if elapsed is not None:
            self._seen.last_running = elapsed
        if self.adaptive and elapsed is not None:
            delay = self._adaptive_delay(elapsed, progress)
        else:
            delay = self.poll_interval * random.uniform(1 - _JITTER, 1 + _JITTER)
        delay = min(delay, self.max_poll_interval)
        if remaining is not None:
            delay = min(delay, max(0.0, remaining))
        return delay

    def _adaptive_delay(self, elapsed: float, progress: float | None) -> float:
        if progress is not None and 0 <= progress < 1:
            self._seen.add(elapsed, progress)
        early, late = self.window(elapsed)
        interval = self.poll_interval
        if elapsed < early:  # not plausible yet: toward the window
            target = early + _FIRST_PLAUSIBLE * interval
            if late is not None:
                target = min(target, late + _PAST_LATE_EDGE * interval * random.random())
            delay = target - elapsed
            if delay >= self.max_poll_interval:  # far away: a capped, spread hop
                return self.max_poll_interval * random.uniform(1 - _JITTER, 1)
            return max(delay, 0.0)
        # Plausible: within poll_interval, or just past the late edge if that comes first.
        delay = interval * random.uniform(_FIRST_PLAUSIBLE, 1.0)
        if late is not None and elapsed < late:
            delay = min(delay, late - elapsed + _PAST_LATE_EDGE * interval * random.random())
        return delay

    def window(self, elapsed: float) -> tuple[float, float | None]:
        """(earliest, latest) plausible finish, seconds after submission (latest: ``None``
        when nothing bounds it). The earliest is ``elapsed`` itself when nothing is known."""
        seen = self._seen
        if seen.first is not None and seen.last is not None:
            step = _step(seen.values)
            (t1, p1), (t2, p2) = seen.first, seen.last
            if p2 > p1 and t2 > t1:
                fastest = (p2 + step - p1) / (t2 - t1)
                slowest = (p2 - p1 - step) / (t2 - t1)
                early = t2 + max(0.0, 1 - p2 - step) / fastest * (1 - _PROGRESS_MARGIN)
                late = t2 + (1 - p2) / slowest if slowest > 0 else None
                return min(early, elapsed) if p2 + step >= 1 or p2 >= _NEAR_DONE else early, late
            if p2 + step >= 1 or p2 >= _NEAR_DONE:
                return elapsed, None  # within a step of the end: it may finish any moment
            # One answer with progress. If progress moved from the start, the finish it
            # gives (less the margin) is the early edge. If it was seen at 0 first (a
            # queue), it began at an unknown moment since, so its rate is unknown too: aim
            # half-way to the finish it would give if it began at that 0, and no further
            # than the fastest recent renders, or twice as far as progress took to appear;
            # the next answer measures the rate.
            began = seen.last_zero if seen.last_zero is not None else 0.0
            if t2 > began:
                left = (1 - p2 - step) * (t2 - began) / (p2 + step)
                if seen.last_zero is None:
                    return t2 + left * (1 - _PROGRESS_MARGIN), None
                bound = max(self._edge() or 0.0, t2 + (t2 - began))
                return min(t2 + left / 2, bound), None
        if (edge := self._edge()) is not None:
            return edge, None
        return elapsed, None

    def _edge(self) -> float | None:
        return None if self.model is None else self.render_times.early_edge(self.model)

    def completed(self, elapsed: float | None, render_seconds: float | None = None) -> None:
        """Learn from a completion observed ``elapsed`` seconds after submission.

        ``render_seconds``: the render time the gateway reported, when it did; otherwise the
        completion is put between the last answer that said "running" and this one.
        """
        if self.model is None or elapsed is None:
            return
        seconds = elapsed
        if render_seconds is not None and 0 < render_seconds <= elapsed:
            seconds = render_seconds
        elif (running := self._seen.last_running) is not None and running < elapsed:
            seconds = (running + elapsed) / 2
        self.render_times.record(self.model, seconds)


@dataclass(frozen=True)
class Polling:
    """How a wait polls: one value for both operators, the sensor and both triggers.

    ``max_poll_interval`` is never below ``poll_interval`` (it is raised to it), and
    ``poll_interval`` must be positive: both are checked here, once, when the DAG is parsed.
    The same four names are the trigger kwargs (:meth:`to_kwargs`).
    """

    poll_interval: float = 10.0
    max_poll_interval: float = 60.0
    adaptive_polling: bool = True
    model: str | None = None

    @classmethod
    def of(
        cls,
        poll_interval: float,
        max_poll_interval: float | None = None,
        adaptive_polling: bool = True,
        model: str | None = None,
    ) -> Polling:
        interval = float(poll_interval)
        if not interval > 0 or math.isinf(interval):
            raise ValueError(f"poll_interval: must be a finite number of seconds > 0, got {poll_interval!r}")
        longest = max(float(max_poll_interval or 0.0), interval)
        if math.isnan(longest) or math.isinf(longest):
            raise ValueError(
                f"max_poll_interval: must be a finite number of seconds, got {max_poll_interval!r}"
            )
        return cls(interval, longest, bool(adaptive_polling), model)

    def schedule(self) -> PollSchedule:
        """A new schedule (one per generation: a schedule remembers its generation's progress)."""
        return PollSchedule(
            self.poll_interval, self.max_poll_interval, adaptive=self.adaptive_polling, model=self.model
        )

    def to_kwargs(self) -> dict[str, Any]:
        return {
            "poll_interval": self.poll_interval,
            "max_poll_interval": self.max_poll_interval,
            "adaptive_polling": self.adaptive_polling,
            "model": self.model,
        }


__all__ = ["RENDER_TIMES", "PollSchedule", "Polling", "RenderTimes"]
