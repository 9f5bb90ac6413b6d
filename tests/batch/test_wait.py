"""The batch wait: one schedule per generation, so one item's progress never paces another."""

from __future__ import annotations

import asyncio
import logging
import time

from airflow_provider_i2v.batch.wait import wait_for_all
from airflow_provider_i2v.protocol import GenerationState, GenerationStatus
from airflow_provider_i2v.generation.schedule import PollSchedule, RenderTimes


class ScriptedGateway:
    """An ``aget_generation`` that answers from a script: ``slow`` reports a slow render's
    progress and never finishes; ``plain`` reports no progress and completes on its 3rd poll."""

    def __init__(self) -> None:
        self.polls: dict[str, int] = {"slow": 0, "plain": 0}

    async def aget_generation(self, gid: str) -> GenerationState:
        self.polls[gid] += 1
        await asyncio.sleep(0 if gid == "slow" else 0.01)  # "slow" is answered first
        if gid == "plain" and self.polls[gid] >= 3:
            status, progress = GenerationStatus.COMPLETED, None
        else:
            status, progress = GenerationStatus.RUNNING, (0.1 if gid == "slow" else None)
        return GenerationState(
            generation_id=gid, status=status, raw_status=status.value, status_known=True, progress=progress
        )


def test_each_generation_keeps_its_own_schedule() -> None:
    gateway = ScriptedGateway()
    render_times = RenderTimes()

    def new_schedule() -> PollSchedule:
        return PollSchedule(0.05, 30.0, model="m", render_times=render_times)

    started = time.time()
    wait = wait_for_all(
        gateway,  # type: ignore[arg-type]
        ["slow", "plain"],
        new_schedule=new_schedule,
        started_at=started - 10,  # "slow" is 10 % done after 10 s: its finish is ~80 s away
        deadline=started + 3,
        log=logging.getLogger(__name__),
    )
    result = asyncio.run(wait)
    # "plain" said nothing of its progress: it is polled every poll_interval and completes,
    # although "slow"'s progress put its own next poll far beyond the deadline.
    assert result.outcomes["plain"]["status"] == "completed"
    assert gateway.polls["plain"] == 3
    assert result.pending == ["slow"]
    assert gateway.polls["slow"] <= 2  # once at the start, perhaps once at the deadline
