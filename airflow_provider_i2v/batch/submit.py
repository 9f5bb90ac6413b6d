"""Submitting the batch's creates: at most ``max_in_flight`` on the wire at once.

Creates run concurrently on one event loop in the worker; every ``task_state_store``
write (intent, id) happens on that loop's thread, the one that owns the task's supervisor
channel. Each item follows the single operator's rules: intent before its create, id
stored before anything else, and only an answer that proves nothing was created removes
the intent. A refusal that would hit every item (bad key, no balance, a host that is not
the gateway) stops new creates at once and fails the task; creates already on the wire
finish first, so their ids are stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VConnectionConfigError,
    I2VCreationUncertainError,
    I2VError,
    I2VPermissionError,
)
from airflow_provider_i2v.resume import proves_nothing_created

if TYPE_CHECKING:
    from airflow_provider_i2v.batch.items import BatchItem
    from airflow_provider_i2v.batch.ledger import BatchLedger
    from airflow_provider_i2v.hooks.i2v import I2VHook

#: Refusals that say nothing about one item and everything about the account.
_FATAL = (I2VAuthenticationError, I2VPermissionError, I2VConnectionConfigError)


@dataclass
class Submission:
    """What became of one item's create."""

    index: int
    generation_id: str | None = None
    error: I2VError | None = None
    #: The create's outcome is unknown: a generation may exist and may be paid for.
    uncertain: bool = False


async def submit_items(
    hook: I2VHook, ledger: BatchLedger, items: list[BatchItem], *, max_in_flight: int, log: Any
) -> dict[int, Submission]:
    """Create one generation per item; returns each item's :class:`Submission`."""
    gate = asyncio.Semaphore(max_in_flight)
    fatal: list[I2VError] = []
    results: dict[int, Submission] = {}

    async def one(item: BatchItem) -> None:
        async with gate:
            if fatal:
                results[item.index] = Submission(item.index, error=fatal[0])
                return
            request = await asyncio.to_thread(item.request, log)  # reads the image off the loop
            before = ledger.entry(item.index)
            ledger.intend([item.index])
            try:
                state = await hook.acreate_generation(request)
            except BaseException as exc:
                results[item.index] = _settle(ledger, item, before, exc, log)
                if isinstance(exc, _FATAL) and not fatal:
                    fatal.append(exc)
                if not isinstance(exc, I2VError):
                    raise
                return
            ledger.accept(item.index, state)
            results[item.index] = Submission(item.index, generation_id=state.generation_id)

    outcomes = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    if fatal:
        raise fatal[0]
    return results


def _settle(ledger: BatchLedger, item: BatchItem, before: Any, exc: BaseException, log: Any) -> Submission:
    """What a failed create means for its item's intent."""
    if proves_nothing_created(exc):
        ledger.restore(item.index, before)
        return Submission(item.index, error=exc if isinstance(exc, I2VError) else None)
    if not isinstance(exc, I2VCreationUncertainError):
        log.warning(
            "%sthe create was interrupted (%s) before its answer arrived: a generation MAY have been "
            "created and paid for",
            item.where,
            type(exc).__name__,
        )
    error = exc if isinstance(exc, I2VError) else None
    return Submission(item.index, error=error, uncertain=True)
