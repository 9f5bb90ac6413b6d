"""Deciding and sending the creates of one or many slots, on one event loop, through :mod:`.rules`.

The single operator is a batch of one here: the same decisions, the same steps, the same
warnings, the same handling of every interruption.

* :func:`plan`: every slot's :class:`~.rules.Decision`, with the stored generations looked
  up concurrently (a stored generation whose status cannot be read stops the try: a slot is
  never submitted while its earlier generation cannot be checked).
* :func:`submit`: at most ``max_in_flight`` creates on the wire. Any ``BaseException`` in
  any create (a task timeout or SIGTERM lands in whichever coroutine step is running) stops
  new creates at once; the creates already on the wire are settled (their id stored, or
  their intent kept and said), then it is raised. That holds for an interruption that lands
  inside asyncio's own transport code (a socket write) too: asyncio does not propagate it,
  it closes the connection and reports the exception to the loop's exception handler,
  where :func:`submit` catches it. A refusal that concerns the account (bad
  key, no balance, a host that is not the gateway) stops new creates too. Under
  ``"resubmit"``, a create whose outcome is unknown is sent again within the try after a
  back-off (bounded, each warned and counted), so a 503 storm does not burn Airflow retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v import metrics
from airflow_provider_i2v.exceptions import (
    ACCOUNT_REFUSALS,
    I2VError,
    I2VGenerationNotFoundError,
    I2VTransientError,
)
from airflow_provider_i2v.generation.rules import (
    MAX_RESUBMITS,
    Asked,
    Decision,
    Next,
    PaidCreate,
    UncertainCreatePolicy,
    decide,
    needs_lookup,
    resubmit_delay,
    unresolved_error,
)

if TYPE_CHECKING:
    from airflow_provider_i2v.generation.record import Entry, Slot
    from airflow_provider_i2v.generation.request import Prepared
    from airflow_provider_i2v.hooks.i2v import I2VHook


@dataclass
class Slotted:
    """One slot and what this try asks of it."""

    index: int
    #: Prefix of every log line and message about it ("" for a single task, "images[3]: ").
    where: str
    slot: Slot
    asked: Asked
    #: The checked request, read again when it is sent (a batch does not hold thousands of
    #: data URLs); blocking, so it runs in a thread.
    prepare: Callable[[], Prepared]


@dataclass
class Created:
    """What became of one slot's create."""

    index: int
    generation_id: str | None = None
    error: I2VError | None = None
    #: The create's outcome is unknown: a generation may exist and may be paid for.
    uncertain: bool = False


async def plan(
    hook: I2VHook,
    slots: Sequence[Slotted],
    *,
    policy: UncertainCreatePolicy,
    acknowledged: bool,
    log: Any,
) -> dict[int, Decision]:
    """Every slot's decision (:func:`~.rules.decide`)."""
    from airflow_provider_i2v.generation.wait import look_up

    entries = {s.index: s.slot.read() for s in slots}
    wanted = {str(entries[s.index].generation_id) for s in slots if needs_lookup(entries[s.index], s.asked)}
    found = await look_up(hook, wanted) if wanted else {}
    decisions = {}
    for s in slots:
        entry = entries[s.index]
        looked_up = found.get(str(entry.generation_id)) if str(entry.generation_id) in wanted else None
        if isinstance(looked_up, I2VError) and not isinstance(
            looked_up, (I2VGenerationNotFoundError, I2VTransientError, *ACCOUNT_REFUSALS)
        ):
            # A refusal about this generation alone (a 400, a 410): never a reason to pay again.
            # It is waited for like a running one, and the wait makes it this slot's failure.
            log.warning("%sgeneration %s cannot be looked up (%s)", s.where, entry.generation_id, looked_up)
            decisions[s.index] = Decision(Next.RECONNECT, entry)
            continue
        if isinstance(looked_up, I2VError) and not isinstance(looked_up, I2VGenerationNotFoundError):
            if isinstance(looked_up, I2VTransientError):
                raise I2VTransientError(
                    f"{s.where}the status of generation {entry.generation_id} of an earlier try cannot be "
                    f"read ({looked_up}); nothing is submitted while it cannot be checked",
                    generation_id=entry.generation_id,
                )
            raise looked_up
        decisions[s.index] = decide(
            entry,
            s.asked,
            looked_up=looked_up,
            policy=policy,
            acknowledged=acknowledged,
            where=s.where,
            log=log,
        )
    return decisions


async def submit(
    hook: I2VHook,
    slots: Sequence[Slotted],
    *,
    policy: UncertainCreatePolicy,
    max_in_flight: int,
    backoff: tuple[float, float],
    log: Any,
    announce: Callable[[Slotted, Entry], None] | None = None,
) -> dict[int, Created]:
    """Create one generation per slot (see the module docstring); returns each slot's :class:`Created`."""
    gate = asyncio.Semaphore(max_in_flight)
    stop: list[BaseException] = []
    results: dict[int, Created] = {}

    def stopped(s: Slotted) -> bool:
        """Whether new creates were stopped (then this slot is not sent: nothing paid for it)."""
        if stop:
            results[s.index] = Created(s.index, error=stop[0] if isinstance(stop[0], I2VError) else None)
        return bool(stop)

    async def one(s: Slotted) -> None:
        async with gate:
            if stopped(s):
                return
            try:
                prepared = await asyncio.to_thread(s.prepare)
            except I2VError as exc:
                results[s.index] = Created(s.index, error=exc)
                return
            if stopped(s):  # stopped while the image was read
                return
            asked = Asked(prepared.digest, s.asked.gateway, s.asked.conn_id, s.asked.model, prepared.image)
            create = PaidCreate(s.slot, asked, where=s.where, log=log)
            resubmits = 0
            while True:
                create.intend()
                try:
                    state = await hook.acreate_generation(prepared.request)
                except BaseException as exc:
                    uncertain = create.failed(exc)
                    if uncertain:
                        metrics.create_uncertain()
                    if not isinstance(exc, Exception):
                        raise
                    delay = (
                        None
                        if stop
                        else resubmit_delay(exc, policy, resubmits, initial=backoff[0], cap=backoff[1])
                    )
                    if delay is not None:
                        resubmits += 1
                        log.warning(
                            "%sSending the create again in %.1f s (%d of at most %d in this try): the last "
                            "one's outcome is unknown (%s), so a generation may have been paid for twice; "
                            "counted in uncertain_creates.",
                            s.where,
                            delay,
                            resubmits,
                            MAX_RESUBMITS,
                            exc,
                        )
                        await asyncio.sleep(delay)
                        if stop:  # stopped while it waited: this create is not sent again
                            error = exc if isinstance(exc, I2VError) else None
                            results[s.index] = Created(s.index, error=error, uncertain=True)
                            return
                        continue
                    error = exc if isinstance(exc, I2VError) else I2VError(f"{type(exc).__name__}: {exc}")
                    if uncertain and policy == "fail":
                        error = unresolved_error(s.where, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                    if isinstance(exc, ACCOUNT_REFUSALS) and not stop:
                        stop.append(exc)
                    results[s.index] = Created(s.index, error=error, uncertain=uncertain)
                    return
                entry = create.accepted(state)
                metrics.generation_created(prepared.request.model)
                if announce is not None:
                    announce(s, entry)
                results[s.index] = Created(s.index, generation_id=state.generation_id)
                return

    async def guarded(s: Slotted) -> None:
        try:
            await one(s)
        except BaseException as exc:  # stored by the loop in this task: stop every other create now
            stop.append(exc)

    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def reported(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An interruption asyncio swallowed (raised inside its socket write): stop as if raised."""
        exc = context.get("exception")
        if isinstance(exc, BaseException) and not isinstance(exc, Exception):
            stop.append(exc)
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(reported)
    try:
        await asyncio.gather(*(guarded(s) for s in slots))
    finally:
        loop.set_exception_handler(previous)
    interrupted = [exc for exc in stop if not isinstance(exc, ACCOUNT_REFUSALS)]
    if interrupted:
        raise interrupted[0]
    return results
