"""Render-time spread and progress reporting: how long generations take and what polls say."""

from __future__ import annotations

import math
import random
import statistics

import httpx
import pytest

from airflow_provider_i2v.protocol import GenerationStatus, normalise_status
from airflow_provider_i2v.simulator import SimConfig, Simulator
from airflow_provider_i2v.simulator.generations import draw_duration

from .helpers import create, poll


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def test_lognormal_draws_have_the_configured_median_and_p95() -> None:
    config = SimConfig(render_time="lognormal", generation_seconds=8.0, generation_seconds_p95=20.0)
    rng = random.Random(3)
    draws = [draw_duration(config, rng) for _ in range(20_000)]
    assert statistics.median(draws) == pytest.approx(8.0, rel=0.03)
    assert _quantile(draws, 0.95) == pytest.approx(20.0, rel=0.05)
    assert min(draws) > 0
    assert len(set(draws)) == len(draws)  # a spread, not a constant


def test_fixed_render_time_draws_nothing() -> None:
    rng = random.Random(1)
    state = rng.getstate()
    config = SimConfig(generation_seconds=4.0, generation_seconds_p95=40.0)  # p95 unused when fixed
    assert {draw_duration(config, rng) for _ in range(100)} == {4.0}
    assert rng.getstate() == state  # seeded runs made before this knob existed are unchanged


def test_lognormal_needs_a_p95_at_least_the_median() -> None:
    with pytest.raises(ValueError, match="generation_seconds_p95"):
        SimConfig(render_time="lognormal", generation_seconds=5.0)
    with pytest.raises(ValueError, match="generation_seconds_p95"):
        SimConfig(render_time="lognormal", generation_seconds=5.0, generation_seconds_p95=4.0)
    with pytest.raises(ValueError, match="render_time"):
        SimConfig(render_time="gaussian")


def _durations(client: httpx.Client, sim: Simulator, seed: int) -> list[float]:
    sim.reset(SimConfig(seed=seed, render_time="lognormal", generation_seconds=10, generation_seconds_p95=30))
    for _ in range(5):
        create(client)
    return [generation.duration for generation in sim.generations]


def test_each_generation_draws_its_time_once_reproducibly_under_a_seed(
    client: httpx.Client, sim: Simulator
) -> None:
    first, again, other = _durations(client, sim, 5), _durations(client, sim, 5), _durations(client, sim, 6)
    assert first == again
    assert first != other
    assert len(set(first)) == 5


def test_a_drawn_time_decides_completion(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(render_time="lognormal", generation_seconds=100, generation_seconds_p95=300)
    ids = [create(client)["id"] for _ in range(6)]
    durations = {generation_id: sim.generation(generation_id).duration for generation_id in ids}  # type: ignore[union-attr]
    cut = statistics.median(durations.values())
    sim.advance(cut)
    for generation_id, duration in durations.items():
        status = normalise_status(poll(client, generation_id)["status"])[0]
        expected = GenerationStatus.COMPLETED if duration <= cut else GenerationStatus.RUNNING
        assert status is expected, (duration, cut)
    listed = [generation.to_dict(sim.clock()) for generation in sim.generations]
    assert {item["id"]: item["duration"] for item in listed} == durations


def test_coarse_progress_is_quantised_and_completion_is_one(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=100, progress_step=0.25)
    generation_id = create(client)["id"]
    seen = []
    for _ in range(9):
        seen.append(poll(client, generation_id)["progress"])
        sim.advance(11)
    assert seen == [0.0, 0.0, 0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
    sim.advance(100)
    assert poll(client, generation_id)["progress"] == 1.0


def test_a_queue_phase_keeps_progress_at_zero_then_spreads_the_rest(
    client: httpx.Client, sim: Simulator
) -> None:
    sim.configure(generation_seconds=100, queue_fraction=0.2, queue_status="in_queue")
    generation_id = create(client)["id"]
    sim.advance(19)
    queued = poll(client, generation_id)
    assert (queued["status"], queued["progress"]) == ("in_queue", 0.0)
    assert normalise_status(queued["status"]) == (GenerationStatus.RUNNING, True)
    sim.advance(41)  # 60 s: half of the 80 s after the queue
    running = poll(client, generation_id)
    assert running["status"] == "in_progress"
    assert running["progress"] == pytest.approx(0.5, abs=0.01)
    sim.advance(40)
    done = poll(client, generation_id)
    assert (done["status"], done["progress"]) == ("completed", 1.0)


def test_the_queue_status_must_read_as_running() -> None:
    with pytest.raises(ValueError, match="queue_status"):
        SimConfig(queue_status="success")


def test_progress_never_reaches_one_while_running(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=10_000)
    generation_id = create(client)["id"]
    sim.advance(9_999)  # 99.99 % of the time (plus the real time this test takes)
    running = poll(client, generation_id)
    assert running["status"] == "in_progress"
    assert running["progress"] < 1.0
    assert math.isclose(running["progress"], 0.99)
