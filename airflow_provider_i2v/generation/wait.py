"""The one wait loop: poll generations until each is terminal or the deadline passes.

The single trigger (one id), the batch trigger (thousands), the operators' blocking path
(``deferrable=False``, through ``asyncio.run``) and the sensor's pokes all wait here, through
the hook's public async methods and the process-wide client. Each generation has its own
:class:`~.schedule.PollSchedule` (it remembers that generation's progress); at most
:data:`POLLS_AT_ONCE` polls are in flight; the loop sleeps until the next poll is due.

What one poll's answer means, in one place:

* terminal: its :class:`~.outcome.Outcome` (kept compact: it travels in an event);
* a transient failure (the retry budget of one poll spent): "no news", polled again later,
  because a paid generation is still worth waiting for;
* the gateway's 404: asked once more after :data:`ASK_AGAIN_AFTER`; a second 404 makes it
  that generation's failure ("gone"), never anyone else's;
* a refusal that concerns the account or the connection (bad key, no permission, a host
  that is not the gateway): the whole wait stops with it; the ids stay stored, so the next
  try reconnects;
* any other provider error: that generation's failure, recorded beside the others.

Every generation is polled at least once, even past the deadline (a triggerer that picks
a trigger up late must not report a finished, paid video as a timeout unseen); that first
poll gets at least :data:`FIRST_POLL_MIN` seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v import metrics
from airflow_provider_i2v.exceptions import (
    ACCOUNT_REFUSALS,
    I2VError,
    I2VGenerationNotFoundError,
    I2VTransientError,
)
from airflow_provider_i2v.generation.outcome import Outcome
from airflow_provider_i2v.generation.progress import ProgressReporter

if TYPE_CHECKING:
    from airflow_provider_i2v.generation.schedule import Polling
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.protocol import GenerationState

#: Polls in flight at once (the shared client's pool holds 32 connections).
POLLS_AT_ONCE = 32
#: The least time a generation's first poll gets, even past the deadline.
FIRST_POLL_MIN = 3.0
#: A 404 is believed only when a second lookup this long after the first says it again.
ASK_AGAIN_AFTER = 2.0


@dataclass
class WaitResult:
    """Each generation's outcome, failure (a provider error about it alone), or neither (pending)."""

    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failures: dict[str, I2VError] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)
    #: The last "still running" answer of each pending generation (its progress, its age).
    running: dict[str, GenerationState] = field(default_factory=dict)


class _BatchReport:
    """Logs a batch's progress when another 5 % is done or an item fails, never per poll."""

    def __init__(self, total: int, log: Any) -> None:
        self.total = total
        self.log = log
        self.step = -1
        self.failed = 0
        self.cost = Decimal("0")

    def __call__(self, result: WaitResult) -> None:
        done = len(result.outcomes) + len(result.failures)
        failed = len(result.failures) + sum(not o.completed for o in result.outcomes.values())
        step = done * 20 // max(1, self.total)
        if step > self.step or failed > self.failed:
            self.step, self.failed = step, failed
            self.log.info(
                "Batch: %d of %d done (%d completed, %d failed), %d rendering; cost so far %s USD",
                done,
                self.total,
                done - failed,
                failed,
                self.total - done,
                self.cost,
            )


async def poll_until_terminal(
    hook: I2VHook,
    generation_ids: Iterable[str],
    polling: Polling,
    *,
    started_at: float | None,
    deadline: float | None,
    log: Any,
    reporter: ProgressReporter | None = None,
    missing: set[str] | None = None,
) -> WaitResult:
    """Poll until every generation is terminal or ``deadline`` (epoch s) passes (see module).

    ``missing`` carries the ids the gateway said it does not know across calls (the sensor
    polls once per poke), so the second 404 is believed whichever call hears it.
    """
    ids = list(dict.fromkeys(generation_ids))
    result = WaitResult()
    schedules = {gid: polling.schedule() for gid in ids}
    progress: dict[str, float | None] = {}
    not_found: set[str] = missing if missing is not None else set()
    first_round = set(ids)
    if len(ids) == 1:
        reporter = reporter or ProgressReporter(ids[0], log, started_at)
        batch_report = None
    else:
        batch_report = _BatchReport(len(ids), log)
    due = [(0.0, gid) for gid in ids]
    heapq.heapify(due)
    gate = asyncio.Semaphore(POLLS_AT_ONCE)
    stopped: list[I2VError] = []

    async def poll(gid: str) -> None:
        state: GenerationState | None = None
        first = gid in first_round
        async with gate:
            try:
                async with asyncio.timeout_at(_cutoff(deadline, first)):
                    state = await hook.aget_generation(gid)
                metrics.polls()
            except TimeoutError:
                pass  # cut off at the deadline: the loop ends below
            except I2VTransientError as exc:
                log.warning("Generation %s: status unavailable (%s); will poll again", gid, exc)
            except I2VGenerationNotFoundError as exc:
                if gid in not_found:
                    result.failures[gid] = exc
                    live.done()
                    return
                not_found.add(gid)
                log.warning("Generation %s: the gateway says it does not know it; asking again", gid)
                heapq.heappush(due, (time.time() + ASK_AGAIN_AFTER, gid))
                first_round.add(gid)  # asked again even past the deadline: a 404 is believed twice
                return
            except ACCOUNT_REFUSALS as exc:
                stopped.append(exc)
                return
            except I2VError as exc:
                log.warning("Generation %s: %s", gid, exc)
                result.failures[gid] = exc
                live.done()
                return
        first_round.discard(gid)
        not_found.discard(gid)
        now = time.time()
        elapsed = None if started_at is None else now - started_at
        if state is not None:
            if reporter is not None:
                reporter.observe(state)
            if state.status.is_terminal:
                outcome = Outcome.from_state(state)
                if outcome.completed:
                    schedules[gid].completed(elapsed, state.render_seconds)
                    if batch_report is not None:
                        batch_report.cost += outcome.cost or Decimal("0")
                result.outcomes[gid] = outcome
                result.running.pop(gid, None)
                live.done()
                return
            result.running[gid] = state
            if state.progress is not None:
                progress[gid] = state.progress
        remaining = None if deadline is None else deadline - now
        pause = schedules[gid].next_delay(elapsed, progress.get(gid), remaining)
        heapq.heappush(due, (now + pause, gid))

    with metrics.LiveGenerations(len(ids)) as live:
        while due and not stopped:
            now = time.time()
            if deadline is not None and now >= deadline and not first_round:
                break
            batch = []
            while due and (due[0][0] <= now or (deadline is not None and now >= deadline)):
                batch.append(heapq.heappop(due)[1])
            if batch:
                await asyncio.gather(*(poll(gid) for gid in batch))
                if batch_report is not None:
                    batch_report(result)
                continue
            wake = due[0][0] if deadline is None else min(due[0][0], deadline)
            await asyncio.sleep(max(0.0, wake - now))
    if stopped:
        raise stopped[0]
    result.pending = [gid for gid in ids if gid not in result.outcomes and gid not in result.failures]
    return result


def _cutoff(deadline: float | None, first: bool) -> float | None:
    """Where one poll (retries and back-off included) is cut off, on the loop's clock."""
    if deadline is None:
        return None
    left = deadline - time.time()
    if first:
        left = max(left, FIRST_POLL_MIN)
    return asyncio.get_running_loop().time() + max(0.0, left)


async def look_up(hook: I2VHook, generation_ids: Iterable[str]) -> dict[str, GenerationState | I2VError]:
    """The current state of each generation, or why it could not be had, concurrently.

    A 404 is asked again after :data:`ASK_AGAIN_AFTER` and believed only the second time.
    """
    gate = asyncio.Semaphore(POLLS_AT_ONCE)
    found: dict[str, GenerationState | I2VError] = {}

    async def one(gid: str) -> None:
        for attempt in range(2):
            async with gate:
                try:
                    found[gid] = await hook.aget_generation(gid)
                    return
                except I2VGenerationNotFoundError as exc:
                    found[gid] = exc
                except I2VError as exc:
                    found[gid] = exc
                    return
            if attempt == 0:
                await asyncio.sleep(ASK_AGAIN_AFTER)

    await asyncio.gather(*(one(gid) for gid in dict.fromkeys(generation_ids)))
    return found
