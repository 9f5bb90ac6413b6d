"""Waiting for a generation from a worker: the operator's blocking path and the sensor's pokes.

Both observe a generation the same way (one status lookup; a transient failure is
logged and is "no news", because a paid generation is still worth waiting for) and
pause by the same :class:`~airflow_provider_i2v.schedule.PollSchedule` as the trigger.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import I2VTransientError

if TYPE_CHECKING:
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.progress import ProgressReporter
    from airflow_provider_i2v.protocol import GenerationState
    from airflow_provider_i2v.schedule import PollSchedule


def observe(
    hook: I2VHook, generation_id: str, reporter: ProgressReporter, log: Any
) -> GenerationState | None:
    """One status lookup; ``None`` when the gateway could not be asked (logged, not raised)."""
    try:
        state = hook.get_generation(generation_id)
    except I2VTransientError as exc:
        log.warning("Generation %s: status unavailable (%s); will poll again", generation_id, exc)
        return None
    reporter.observe(state)
    return state


def wait_in_worker(
    hook: I2VHook,
    generation_id: str,
    *,
    schedule: PollSchedule,
    reporter: ProgressReporter,
    submitted_at: float | None,
    deadline: float | None,
    log: Any,
) -> GenerationState | None:
    """Poll until the generation is terminal; ``None`` when ``deadline`` (epoch s) passes first."""
    progress: float | None = None
    while True:
        state = observe(hook, generation_id, reporter, log)
        now = time.time()
        elapsed = None if submitted_at is None else now - submitted_at
        if state is not None:
            if state.status.is_terminal:
                schedule.completed(elapsed, state.render_seconds)
                return state
            progress = state.progress if state.progress is not None else progress
        remaining = None if deadline is None else deadline - now
        if remaining is not None and remaining <= 0:
            return None
        time.sleep(schedule.next_delay(elapsed, progress, remaining))
