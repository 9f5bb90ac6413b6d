"""The polling schedule: a window of plausible finish times from progress or recent renders;
once completion is plausible, it is detected within poll_interval."""

from __future__ import annotations

import random
import threading

import pytest

from airflow_provider_i2v.generation.schedule import PollSchedule, RenderTimes
from airflow_provider_i2v.simulator import Generation


def schedule(**kwargs: object) -> PollSchedule:
    kwargs.setdefault("render_times", RenderTimes())
    return PollSchedule(10.0, 60.0, **kwargs)  # type: ignore[arg-type]


def test_without_anything_known_it_polls_every_poll_interval() -> None:
    for _ in range(50):
        assert 9.0 <= schedule(model="m").next_delay(elapsed=5, progress=None, remaining=None) <= 10.0


def test_one_answer_with_progress_hops_toward_the_finish_without_reaching_it() -> None:
    # 30 s in, 25 % done: if progress began at submission the render takes 120 s; the next
    # poll comes before that, so that a second answer can measure the rate.
    s = schedule()
    nxt = 30 + s.next_delay(elapsed=30, progress=0.25, remaining=None)
    assert 60 <= nxt <= 100


def test_two_answers_with_progress_aim_just_past_the_finish() -> None:
    s = schedule()
    s.next_delay(elapsed=10, progress=0.123, remaining=None)
    # 0.414 in 50 s: done at about 60 + 0.463 / 0.00828 = 116 s.
    nxt = 60 + s.next_delay(elapsed=60, progress=0.537, remaining=None)
    _, late = s.window(60)
    assert late is not None
    assert 115 <= late <= 117
    assert late <= nxt <= late + 0.5


def test_coarse_progress_widens_the_window_and_polls_from_its_early_edge() -> None:
    s = schedule()
    s.next_delay(elapsed=10, progress=0.1, remaining=None)
    nxt = 60 + s.next_delay(elapsed=60, progress=0.5, remaining=None)
    early, late = s.window(60)
    # Steps of 0.1: between 0.3 and 0.5 in 50 s, so 40 % left takes 40-83 s.
    assert 95 <= early <= 100
    assert late is not None
    assert 140 <= late <= 145
    assert early < nxt <= early + 10


def test_a_queue_before_progress_moves_does_not_delay_the_finish() -> None:
    s = schedule()
    s.next_delay(elapsed=2, progress=0.0, remaining=None)  # queued
    nxt = 45 + s.next_delay(elapsed=45, progress=0.2, remaining=None)
    assert nxt <= 45 + 2 * (45 - 2) + 10  # progress began somewhere after 2 s: look again soon


def test_once_completion_is_plausible_it_polls_within_poll_interval() -> None:
    s = schedule()
    s.next_delay(elapsed=10, progress=0.1, remaining=None)
    # Steps of 0.1 and 0.9 reached: it may finish any moment now.
    assert 0 < s.next_delay(elapsed=100, progress=0.9, remaining=None) <= 10.0


@pytest.mark.parametrize("progress", [0.0, 1.0])
def test_no_or_complete_progress_is_not_extrapolated(progress: float) -> None:
    assert 9.0 <= schedule().next_delay(elapsed=30, progress=progress, remaining=None) <= 10.0


def test_recent_render_times_move_the_first_polls_past_the_early_edge() -> None:
    times = RenderTimes()
    for seconds in range(100, 200, 5):  # 20 completions, fastest 100 s
        times.record("m", float(seconds))
    s = schedule(model="m", render_times=times)
    assert 54.0 <= s.next_delay(elapsed=0, progress=None, remaining=None) <= 60.0  # capped
    # Plausible from 100 s: the first poll may come up to 0.9 x poll_interval after it.
    assert s.next_delay(elapsed=80, progress=None, remaining=None) == pytest.approx(29.0)
    assert 9.0 <= s.next_delay(elapsed=101, progress=None, remaining=None) <= 10.0
    other = schedule(model="another", render_times=times)  # other models learn nothing
    assert 9.0 <= other.next_delay(elapsed=0, progress=None, remaining=None) <= 10.0


def test_a_few_render_times_are_not_trusted_yet() -> None:
    times = RenderTimes()
    for _ in range(7):
        times.record("m", 300.0)
    assert times.early_edge("m") is None


def test_render_times_are_bounded() -> None:
    times = RenderTimes(kept=16)
    for seconds in range(1000):
        times.record("m", float(seconds + 1))
    assert times.early_edge("m") == 985.0  # only the last 16 remain


def test_never_past_the_deadline_nor_longer_than_the_maximum() -> None:
    assert schedule().next_delay(elapsed=30, progress=0.25, remaining=3.0) == 3.0
    assert schedule().next_delay(elapsed=30, progress=0.25, remaining=-1.0) == 0.0
    s = schedule()
    s.next_delay(elapsed=1, progress=0.001, remaining=None)
    assert s.next_delay(elapsed=2, progress=0.002, remaining=None) <= 60.0  # a 1000 s render


def test_fixed_schedule_ignores_progress() -> None:
    s = schedule(adaptive=False)
    assert 9.0 <= s.next_delay(elapsed=30, progress=0.25, remaining=None) <= 11.0


def test_completions_teach_the_shared_estimator() -> None:
    times = RenderTimes()
    s = schedule(model="m", render_times=times)
    threads = [threading.Thread(target=s.completed, args=(120.0,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert times.early_edge("m") == 120.0


def test_a_completion_is_put_between_the_last_running_answer_and_its_detection() -> None:
    times = RenderTimes()
    s = schedule(model="m", render_times=times)
    s.next_delay(elapsed=100.0, progress=None, remaining=None)
    for _ in range(8):
        s.completed(110.0)
    assert times.early_edge("m") == 105.0
    for _ in range(8):
        s.completed(110.0, render_seconds=101.5)  # what the gateway said it took
    assert times.early_edge("m") == 101.5


@pytest.mark.parametrize(("interval", "maximum"), [(0, 60), (-1, 60), (10, 5)])
def test_bad_intervals_are_refused(interval: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        PollSchedule(interval, maximum)


@pytest.mark.parametrize("step", [None, 0.1, 0.05])
@pytest.mark.parametrize("queue", [0.0, 0.3])
@pytest.mark.parametrize("duration", [3.0, 47.0, 120.0, 333.0, 1200.0])
def test_the_guarantee_on_the_simulators_renders(duration: float, queue: float, step: float | None) -> None:
    """Driven like the trigger drives it, on the simulator's own progress: no sleep over the
    maximum, and a render is noticed within poll_interval of its end (nothing learnt yet, so
    every moment is plausible to the estimator)."""
    render = Generation("g", "m", created_at=0.0, started=0.0, duration=duration, failure=None)
    for seed in range(20):  # the schedule's jitter
        random.seed(seed)
        s = schedule()
        now, polls = 2.0, 0
        while now < duration:
            polls += 1
            delay = s.next_delay(now, render.progress(now, queue_fraction=queue, step=step), None)
            assert 0 <= delay <= 60.0
            now += delay
        assert now - duration <= 10.0  # the poll that saw it completed
        assert polls <= duration / 9.0 + 2  # never more than fixed polling would make
