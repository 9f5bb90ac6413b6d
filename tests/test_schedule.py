"""The polling schedule: sleeps toward the plausible finish, then polls every poll_interval."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_i2v.schedule import PollSchedule, RenderTimes


def schedule(**kwargs: object) -> PollSchedule:
    kwargs.setdefault("render_times", RenderTimes())
    return PollSchedule(10.0, 60.0, **kwargs)  # type: ignore[arg-type]


def test_without_anything_known_it_polls_every_poll_interval() -> None:
    for _ in range(50):
        assert 9.0 <= schedule(model="m").next_delay(elapsed=5, progress=None, remaining=None) <= 11.0


def test_progress_moves_the_next_poll_toward_the_expected_finish() -> None:
    # 30 s in, 25 % done: expected total 120 s, plausible from 108 s, capped at 60 s.
    assert 54.0 <= schedule().next_delay(elapsed=30, progress=0.25, remaining=None) <= 60.0
    # 90 s in, 75 % done: wake at 108 s, 18 s from now (+-10 %).
    assert 16.2 <= schedule().next_delay(elapsed=90, progress=0.75, remaining=None) <= 19.8


def test_once_completion_is_plausible_it_polls_every_poll_interval() -> None:
    assert 9.0 <= schedule().next_delay(elapsed=115, progress=0.95, remaining=None) <= 11.0


@pytest.mark.parametrize("progress", [0.0, 0.01, 1.0])
def test_too_little_or_complete_progress_is_not_extrapolated(progress: float) -> None:
    assert 9.0 <= schedule().next_delay(elapsed=30, progress=progress, remaining=None) <= 11.0


def test_recent_render_times_move_the_first_polls_past_the_early_edge() -> None:
    times = RenderTimes()
    for seconds in range(100, 200, 5):  # 20 completions, fastest 100 s
        times.record("m", float(seconds))
    s = schedule(model="m", render_times=times)
    assert 54.0 <= s.next_delay(elapsed=0, progress=None, remaining=None) <= 60.0  # capped
    assert 18.0 <= s.next_delay(elapsed=80, progress=None, remaining=None) <= 22.0  # to 100 s
    assert 9.0 <= s.next_delay(elapsed=101, progress=None, remaining=None) <= 11.0
    other = schedule(model="another", render_times=times)  # other models learn nothing
    assert 9.0 <= other.next_delay(elapsed=0, progress=None, remaining=None) <= 11.0


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


@pytest.mark.parametrize(("interval", "maximum"), [(0, 60), (-1, 60), (10, 5)])
def test_bad_intervals_are_refused(interval: float, maximum: float) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        PollSchedule(interval, maximum)
