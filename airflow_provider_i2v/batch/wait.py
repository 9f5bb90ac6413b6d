"""Waiting for every generation of a batch on one event loop: the batch trigger's job.

Each generation is polled on its own :class:`~airflow_provider_i2v.schedule.PollSchedule`
(the render's progress, recent render times), through the process-wide client, at most
:data:`POLLS_AT_ONCE` at a time; the loop sleeps until the next poll is due. Every
generation is polled at least once, even past the deadline. Progress is logged when
another 5 % of the batch is done or an item fails, never per poll.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import I2VError, I2VGenerationNotFoundError, I2VTransientError
from airflow_provider_i2v.protocol import GenerationStatus

if TYPE_CHECKING:
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.protocol import GenerationState
    from airflow_provider_i2v.schedule import PollSchedule

#: Polls in flight at once (the shared client's pool holds 32 connections).
POLLS_AT_ONCE = 32


def outcome_of(state: GenerationState) -> dict[str, Any]:
    """What the manifest needs of a terminal generation (compact: it travels in an event)."""
    result: dict[str, Any] = {
        "status": state.status.value,
        "video_urls": state.video_urls,
        "usage": state.usage,
    }
    if state.output_urls != state.video_urls:
        result["output_urls"] = state.output_urls
    if state.error is not None:
        result["error"] = {"code": state.error.code, "message": state.error.message}
    return result


@dataclass
class BatchWait:
    """The terminal outcome of every generation that reached one, and the ones that did not."""

    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)


async def wait_for_all(
    hook: I2VHook,
    generation_ids: list[str],
    *,
    new_schedule: Callable[[], PollSchedule],
    started_at: float | None,
    deadline: float | None,
    log: Any,
) -> BatchWait:
    """Poll until every generation is terminal or ``deadline`` (epoch s) passes.

    ``new_schedule`` makes one generation's schedule: a schedule remembers the progress its
    generation reported, so generations never share one.
    """
    total = len(generation_ids)
    result = BatchWait()
    progress: dict[str, float | None] = {}
    schedules: dict[str, PollSchedule] = {}
    due = [(0.0, gid) for gid in generation_ids]  # everything is polled at once, first
    heapq.heapify(due)
    reported = [-1, 0]  # 5 % step, failures
    cost = Decimal("0")
    gate = asyncio.Semaphore(POLLS_AT_ONCE)
    first_round = set(generation_ids)

    async def poll(gid: str) -> None:
        nonlocal cost
        async with gate:
            try:
                state = await hook.aget_generation(gid)
            except I2VTransientError as exc:
                log.warning("Generation %s: status unavailable (%s); will poll again", gid, exc)
                state = None
            except I2VGenerationNotFoundError as exc:
                result.outcomes[gid] = {"status": "failed", "error": {"code": None, "message": exc.message}}
                return
        first_round.discard(gid)
        now = time.time()
        elapsed = None if started_at is None else now - started_at
        if state is not None and state.status.is_terminal:
            if state.status is GenerationStatus.COMPLETED:
                (schedules.pop(gid, None) or new_schedule()).completed(elapsed, state.render_seconds)
                cost += state.cost or Decimal("0")
            result.outcomes[gid] = outcome_of(state)
            schedules.pop(gid, None)
            progress.pop(gid, None)
            return
        if state is not None and state.progress is not None:
            progress[gid] = state.progress
        remaining = None if deadline is None else deadline - now
        schedule = schedules.get(gid) or schedules.setdefault(gid, new_schedule())
        pause = schedule.next_delay(elapsed, progress.get(gid), remaining)
        heapq.heappush(due, (now + pause, gid))

    def report() -> None:
        done = len(result.outcomes)
        failed = sum(1 for o in result.outcomes.values() if o["status"] != "completed")
        step = done * 20 // max(1, total)
        if step > reported[0] or failed > reported[1]:
            reported[0], reported[1] = step, failed
            log.info(
                "Batch: %d of %d done (%d completed, %d failed), %d rendering; cost so far %s USD",
                done,
                total,
                done - failed,
                failed,
                total - done,
                cost,
            )

    while due:
        now = time.time()
        if deadline is not None and now >= deadline and not first_round:
            break
        batch = []
        while due and (due[0][0] <= now or (deadline is not None and now >= deadline)):
            batch.append(heapq.heappop(due)[1])
        if batch:
            await asyncio.gather(*(poll(gid) for gid in batch))
            report()
            continue
        wake = due[0][0] if deadline is None else min(due[0][0], deadline)
        await asyncio.sleep(max(0.0, wake - now))
    result.pending = [gid for _, gid in due]
    return result


async def poll_once(hook: I2VHook, generation_ids: list[str]) -> dict[str, GenerationState | I2VError]:
    """The current state of each generation (or why it could not be had), polled concurrently."""
    gate = asyncio.Semaphore(POLLS_AT_ONCE)
    found: dict[str, GenerationState | I2VError] = {}

    async def one(gid: str) -> None:
        async with gate:
            try:
                found[gid] = await hook.aget_generation(gid)
            except I2VError as exc:
                found[gid] = exc

    await asyncio.gather(*(one(gid) for gid in generation_ids))
    return found
