"""Polls per generation, adaptive beside fixed, on the simulator's own render model (virtual clock).

Thousands of generations are submitted one every ``arrival`` seconds of a virtual clock;
each is polled by a real :class:`~airflow_provider_i2v.generation.schedule.PollSchedule`, exactly as
the trigger drives it (first poll when the trigger starts, then ``next_delay(elapsed,
last progress, remaining)``), and every answer is what the simulator itself would send at
that moment (:func:`airflow_provider_i2v.simulator.bodies.render_polled` on a simulator
:class:`~airflow_provider_i2v.simulator.Generation` whose render time was drawn by the
simulator's :func:`~airflow_provider_i2v.simulator.generations.draw_duration`), read by
the provider's own answer interpretation. Completions teach one shared
:class:`~airflow_provider_i2v.generation.schedule.RenderTimes`, as they do in a triggerer.

No sleeping, no HTTP: a virtual clock is what lets thousands of two-minute renders be
evaluated in seconds. What it does not model: network latency (milliseconds) and the
trigger's start-up delay beyond the fixed ``pickup``.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_i2v.generation.schedule import PollSchedule, RenderTimes
from airflow_provider_i2v.hooks.interpret import Call, interpret
from airflow_provider_i2v.protocol import poll_path
from airflow_provider_i2v.simulator import Generation, SimConfig
from airflow_provider_i2v.simulator.bodies import render_polled
from airflow_provider_i2v.simulator.generations import draw_duration

MODEL = "minimax_i2v_01_live"
#: Render times as the issue states them: log-normal, median 120 s, 95th percentile 300 s.
MEDIAN = 120.0
P95 = 300.0
POLL_INTERVAL = 10.0
MAX_POLL_INTERVAL = 60.0
#: Seconds from submission to the trigger's first poll (deferral, triggerer pick-up).
PICKUP = 2.0


@dataclass(frozen=True)
class Scenario:
    """How the gateway reports progress (simulator knobs)."""

    name: str
    report_progress: bool = True
    progress_step: float | None = None
    queue_fraction: float = 0.0

    def config(self) -> SimConfig:
        return SimConfig(
            render_time="lognormal",
            generation_seconds=MEDIAN,
            generation_seconds_p95=P95,
            report_progress=self.report_progress,
            progress_step=self.progress_step,
            queue_fraction=self.queue_fraction,
        )


SCENARIOS = (
    Scenario("progress reported (fine)"),
    Scenario("progress coarse (10 % steps)", progress_step=0.1),
    Scenario("progress after a queue (20 %)", queue_fraction=0.2),
    Scenario("no progress", report_progress=False),
)


@dataclass
class Outcome:
    """What one policy cost and how late it noticed completions."""

    polls: list[int]
    latencies: list[float]

    @property
    def polls_per_generation(self) -> float:
        return statistics.fmean(self.polls)

    def latency(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    def within(self, seconds: float) -> float:
        """Share of completions noticed within ``seconds``."""
        return sum(1 for latency in self.latencies if latency <= seconds) / len(self.latencies)


def simulate(
    scenario: Scenario,
    make_schedule: Callable[[RenderTimes], PollSchedule],
    *,
    generations: int,
    seed: int = 1,
    arrival: float = 5.0,
) -> Outcome:
    """Submit ``generations`` (one every ``arrival`` s) and poll each as the trigger would."""
    config = scenario.config()
    draws = random.Random(seed)
    durations = [draw_duration(config, draws) for _ in range(generations)]
    random.seed(seed)  # the schedule's jitter
    times = SampledRenderTimes()  # one process's estimator, shared by every generation
    url = "http://simulator.invalid/files/x.mp4"
    pending: list[tuple[float, int]] = []
    gens: list[Generation] = []
    schedules: list[PollSchedule] = []
    progress: list[float | None] = []
    polls = [0] * generations
    latencies = [0.0] * generations
    calls: list[Call] = []
    for index, duration in enumerate(durations):
        submitted = index * arrival
        generation_id = f"g{index:019d}"
        gens.append(
            Generation(
                generation_id, MODEL, created_at=submitted, started=submitted, duration=duration, failure=None
            )
        )
        schedules.append(make_schedule(times))
        progress.append(None)
        calls.append(Call("GET", poll_path(generation_id), generation_id=generation_id))
        heapq.heappush(pending, (submitted + PICKUP, index))
    while pending:
        now, index = heapq.heappop(pending)
        generation = gens[index]
        generation.polls += 1
        polls[index] += 1
        body = json.dumps(render_polled(generation, config, now, url)).encode()
        state = interpret(calls[index], 200, {}, body)
        elapsed = now - generation.started
        if state.status.is_terminal:
            latencies[index] = now - (generation.started + generation.duration)
            schedules[index].completed(elapsed)
            continue
        if state.progress is not None:
            progress[index] = state.progress
        heapq.heappush(pending, (now + schedules[index].next_delay(elapsed, progress[index], None), index))
    return Outcome(polls, latencies)


def fixed(interval: float = POLL_INTERVAL) -> Callable[[RenderTimes], PollSchedule]:
    return lambda times: PollSchedule(interval, interval, adaptive=False, model=MODEL, render_times=times)


def adaptive(**overrides: object) -> Callable[[RenderTimes], PollSchedule]:
    def make(times: RenderTimes) -> PollSchedule:
        schedule = PollSchedule(
            POLL_INTERVAL, MAX_POLL_INTERVAL, adaptive=True, model=MODEL, render_times=times
        )
        return dataclasses.replace(schedule, **overrides) if overrides else schedule

    return make


class SampledRenderTimes(RenderTimes):
    """The provider's estimator, also keeping every sample for the alternatives below."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: dict[str, list[float]] = {}

    def record(self, model: str, seconds: float) -> None:
        super().record(model, seconds)
        self.kept.setdefault(model, []).append(seconds)

    def samples(self, model: str) -> list[float]:
        return self.kept.get(model, [])[-128:]


class HazardSchedule(PollSchedule):
    """An alternative considered for renders without progress (not the provider's rule).

    Instead of "every poll_interval once past the early edge", each gap is the largest
    that, by the recent render times, a generation still running finishes within with
    probability at most ``alpha`` (the ``alpha`` quantile of the remaining render time),
    but at least 0.9 x poll_interval: polls thin out where completions are rare (the long
    tail), at the price of the per-generation guarantee.
    """

    alpha = 0.05

    def _adaptive_delay(self, elapsed: float, progress: float | None) -> float:
        if (progress is not None and progress > 0) or self.model is None:
            return super()._adaptive_delay(elapsed, progress)
        times = self.render_times
        samples = sorted(times.samples(self.model)) if isinstance(times, SampledRenderTimes) else []
        if len(samples) < 8:
            return super()._adaptive_delay(elapsed, progress)
        alive = [s for s in samples if s > elapsed]
        low = self.poll_interval * random.uniform(0.9, 1.0)
        if not alive:
            return low
        gap = alive[int(self.alpha * (len(alive) - 1))] - elapsed
        return max(low, min(gap, self.max_poll_interval))


def hazard(alpha: float) -> Callable[[RenderTimes], PollSchedule]:
    def make(times: RenderTimes) -> PollSchedule:
        schedule = HazardSchedule(
            POLL_INTERVAL, MAX_POLL_INTERVAL, adaptive=True, model=MODEL, render_times=times
        )
        schedule.alpha = alpha
        return schedule

    return make


@dataclass
class Comparison:
    scenario: Scenario
    adaptive: Outcome
    fixed: Outcome
    matched: Outcome  # fixed at the interval whose p95 latency is the adaptive schedule's
    matched_interval: float

    @property
    def ratio_same_interval(self) -> float:
        return self.adaptive.polls_per_generation / self.fixed.polls_per_generation

    @property
    def ratio_same_p95(self) -> float:
        return self.adaptive.polls_per_generation / self.matched.polls_per_generation


def compare(
    scenario: Scenario,
    generations: int,
    seed: int = 1,
    policy: Callable[[RenderTimes], PollSchedule] | None = None,
) -> Comparison:
    """The adaptive schedule (or ``policy``) beside fixed polling at the same interval and
    at the same p95 detection latency."""
    ours = simulate(scenario, policy or adaptive(), generations=generations, seed=seed)
    same = simulate(scenario, fixed(), generations=generations, seed=seed)
    # Fixed polling's p95 latency is proportional to its interval (about 0.95 x): the
    # interval that gives the adaptive schedule's p95, refined once on the simulation.
    target = ours.latency(0.95)
    interval = POLL_INTERVAL * target / same.latency(0.95)
    matched = simulate(scenario, fixed(interval), generations=generations, seed=seed)
    interval *= target / matched.latency(0.95)
    matched = simulate(scenario, fixed(interval), generations=generations, seed=seed)
    return Comparison(scenario, ours, same, matched, interval)


def alternatives(generations: int, seed: int = 1) -> list[tuple[str, Comparison]]:
    """Without progress: other early-edge quantiles, and the hazard rule, at the same p95."""
    from airflow_provider_i2v.generation import schedule

    none = SCENARIOS[-1]
    found = []
    shipped = schedule._EARLY_QUANTILE
    try:
        for quantile in (0.02, 0.10):
            schedule._EARLY_QUANTILE = quantile
            found.append((f"edge q{quantile:.2f}", compare(none, generations, seed)))
    finally:
        schedule._EARLY_QUANTILE = shipped
    for alpha in (0.02, 0.05):
        found.append((f"hazard a{alpha:.2f}", compare(none, generations, seed, policy=hazard(alpha))))
    return found


def main() -> None:
    import sys

    generations = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for scenario in SCENARIOS:
        c = compare(scenario, generations)
        print(
            f"{scenario.name:34} adaptive {c.adaptive.polls_per_generation:5.2f} polls"
            f" p95 {c.adaptive.latency(0.95):5.1f} s within10 {c.adaptive.within(POLL_INTERVAL * 1.1):.3f} |"
            f" fixed {c.fixed.polls_per_generation:5.2f} p95 {c.fixed.latency(0.95):5.1f} |"
            f" x{c.ratio_same_interval:.2f} same P; x{c.ratio_same_p95:.2f} same p95"
            f" (fixed {c.matched_interval:.1f} s)"
        )


if __name__ == "__main__":
    main()
