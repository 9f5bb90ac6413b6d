"""The pay-once rules: one set, for the single operator and for every batch item alike.

A *slot* is what one paid generation belongs to: a single task instance, or one item of a
batch task instance. Its :class:`~.record.Entry` lives in ``task_state_store`` and is in
one of these states:

============  ===========================================  ==================================
state         the entry holds                              the next try (or a clear) does
============  ===========================================  ==================================
nothing       no id, no intent                             submits (pays)
intent        ``pending_since``: a create was sent and     "resubmit": says plainly that a
              its answer never arrived (unknown outcome)   generation may exist and submits
                                                           again, counted in
                                                           ``uncertain_creates``; "fail":
                                                           fails until a user acknowledges
                                                           (:data:`~.record.ACKNOWLEDGE_KEY`)
accepted      ``generation_id`` + the request's digest     asks the gateway: rendering ->
              + the gateway's base URL                     reconnects; completed -> reuses;
                                                           failed or gone (asked twice) ->
                                                           submits anew
delivered     status ``completed`` with its result         reuses the recorded result; asks
                                                           nobody, pays nothing
============  ===========================================  ==================================

Whatever the state, an entry whose digest differs from this try's request is not reused
(the image, a parameter or the user's ``revision`` changed: the log says so and a new
generation is paid for), and an entry made on another gateway base URL is a configuration
error, never a new payment.

Two invariants are never relaxed (:class:`PaidCreate`):

1. **An intent is written before a create is sent**, and only an answer that proves nothing
   was created removes it (:func:`proves_nothing_created`). Any other end of the create (an
   unknown answer, an exception, a ``BaseException`` such as a task timeout or SIGTERM, a
   SIGKILL that runs no code at all) leaves it, so the next try knows that a generation may
   exist and may have been paid for, and says so before it decides.
2. **An accepted id is logged first, then stored** (with retries; if an interruption strikes
   during the write, it is written once more before the interruption goes on), **and only
   then announced** (XCom). A slot whose id cannot be stored fails without retry, because a
   retry that cannot find it would pay again; the log line names the id.

The record is never deleted by the provider (a success callback is not proof that Airflow
recorded the success): retention removes it. So a try whose success the server rejected,
and a clear of a succeeded run, find the delivered result and pay nothing.
"""

from __future__ import annotations

import contextlib
import enum
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_i2v.exceptions import (
    I2VConnectionConfigError,
    I2VCreationUncertainError,
    I2VCreationUnresolvedError,
    I2VError,
    I2VGenerationNotFoundError,
    I2VNonRetryableError,
)
from airflow_provider_i2v.generation.outcome import Outcome
from airflow_provider_i2v.generation.record import ACKNOWLEDGE_KEY, Entry, Status
from airflow_provider_i2v.protocol import GenerationState, GenerationStatus

if TYPE_CHECKING:
    from airflow_provider_i2v.generation.record import Slot

#: What a try does after a create whose outcome stayed unknown.
UncertainCreatePolicy = Literal["resubmit", "fail"]
UNCERTAIN_CREATE_POLICIES: tuple[UncertainCreatePolicy, ...] = ("resubmit", "fail")
#: Under "resubmit", creates sent again within one try after unknown outcomes (a 503 storm):
#: each is warned and counted; past this many the try fails and Airflow's retry goes on.
MAX_RESUBMITS = 5


class Next(enum.Enum):
    """What a try does with what an earlier try (or run) left."""

    SUBMIT = "submit"
    RECONNECT = "reconnect"
    REUSE = "reuse"


@dataclass(frozen=True)
class Asked:
    """What this try asks for, as the rules compare it with a record."""

    digest: str
    gateway: str
    conn_id: str
    model: str
    image: str


@dataclass(frozen=True)
class Decision:
    next: Next
    entry: Entry
    #: REUSE: the delivered result.
    outcome: Outcome | None = None


def proves_nothing_created(exc: BaseException) -> bool:
    """Whether an exception out of a create proves that no generation exists.

    The hook raises a typed :class:`I2VError` only for outcomes it knows: a refusal, a
    configuration error found before sending, or transient failures that all happened
    before the request was processed. Its one unknown outcome is
    :class:`I2VCreationUncertainError`. Anything else (a task timeout, SIGTERM, Ctrl-C,
    a cancelled coroutine, a bug) may have interrupted a create the gateway received.
    """
    return isinstance(exc, I2VError) and not isinstance(exc, I2VCreationUncertainError)


def needs_lookup(entry: Entry, asked: Asked) -> bool:
    """Whether :func:`decide` needs the gateway's answer about the stored generation."""
    return (
        entry.generation_id is not None
        and entry.pending_since is None
        and entry.request in (None, asked.digest)  # None: a record of a release without digests
        and entry.gateway in (None, asked.gateway)
        and not _delivered(entry)
    )


def _delivered(entry: Entry) -> bool:
    return entry.status is Status.COMPLETED and bool(entry.video_urls or entry.files)


def decide(
    entry: Entry,
    asked: Asked,
    *,
    looked_up: GenerationState | I2VGenerationNotFoundError | None,
    policy: UncertainCreatePolicy,
    acknowledged: bool,
    where: str,
    log: Any,
) -> Decision:
    """The table in the module docstring. ``looked_up`` is the gateway's answer when
    :func:`needs_lookup` said one was needed (a 404 only once asked twice)."""
    gid = entry.generation_id
    if entry.pending_since is not None:
        _uncertain(entry, policy, acknowledged, where, log)
        return Decision(Next.SUBMIT, entry)
    if gid is None:
        return Decision(Next.SUBMIT, entry)
    if entry.request is not None and entry.request != asked.digest:
        log.warning(
            "%sGeneration %s of this task instance was made for %s request; this try asks for %s, so "
            "it is not reused and a new generation is submitted (and paid for).",
            where,
            gid,
            "another",
            "the image and parameters as they are now" + (f" ({asked.image})" if asked.image else ""),
        )
        return Decision(Next.SUBMIT, entry)
    if entry.gateway is not None and entry.gateway != asked.gateway:
        raise I2VConnectionConfigError(
            f"{where}generation {gid} was created on {entry.gateway}, but connection {asked.conn_id!r} "
            f"now points at {asked.gateway}: its status cannot be checked there, and submitting again "
            "would pay twice. Point the connection back (or change the operator's revision to pay for "
            "a new one on purpose).",
            generation_id=gid,
        )
    if _delivered(entry):
        log.info(
            "%sGeneration %s was delivered earlier; reusing its recorded result (nothing is paid)", where, gid
        )
        return Decision(Next.REUSE, entry, outcome_of_record(entry))
    if isinstance(looked_up, I2VGenerationNotFoundError):
        log.warning(
            "%sGeneration %s of an earlier try is unknown to the gateway (asked twice; expired?); "
            "submitting a new one",
            where,
            gid,
        )
        return Decision(Next.SUBMIT, entry)
    if looked_up is None:
        raise RuntimeError("decide() needs the gateway's answer for a stored generation")
    if looked_up.status is GenerationStatus.RUNNING:
        log.info(
            "%sReconnecting to generation %s of an earlier try (status %s); not submitting again",
            where,
            gid,
            looked_up.raw_status,
        )
        return Decision(Next.RECONNECT, entry)
    if looked_up.status is GenerationStatus.COMPLETED:
        log.info("%sGeneration %s of an earlier try completed; reusing its result", where, gid)
        return Decision(Next.REUSE, entry, Outcome.from_state(looked_up))
    error = looked_up.error
    log.warning(
        "%sGeneration %s of an earlier try failed (code %s: %s); submitting a new one",
        where,
        gid,
        error.code if error else None,
        error.message if error else "no message",
    )
    return Decision(Next.SUBMIT, entry)


def outcome_of_record(entry: Entry) -> Outcome:
    """A delivered record as the outcome it was made from."""
    usage = dict(entry.usage or {})
    if entry.cost is not None:
        usage.setdefault("cost", entry.cost)
    return Outcome(
        generation_id=str(entry.generation_id),
        status=GenerationStatus.COMPLETED,
        model=entry.model,
        video_urls=entry.video_urls,
        output_urls=entry.output_urls or entry.video_urls,
        usage=usage,
        metadata=dict(entry.metadata or {}),
        render_seconds=entry.render_seconds,
    )


def _since(entry: Entry) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.pending_since or 0))


def _uncertain(entry: Entry, policy: UncertainCreatePolicy, acknowledged: bool, where: str, log: Any) -> None:
    """An earlier create's outcome is unknown: say so, then resubmit or stop."""
    if acknowledged:
        log.warning(
            "%sA create sent at %s has an unknown outcome: a generation may exist and may have been paid "
            "for. A user acknowledged it (task_state_store key %r), so a new one is submitted now.",
            where,
            _since(entry),
            ACKNOWLEDGE_KEY,
        )
        return
    if policy == "fail":
        raise unresolved_error(where, _since(entry))
    log.warning(
        "%sAn earlier create sent at %s has an unknown outcome: a generation may exist and may have been "
        "paid for. The gateway cannot look it up, so a new one is submitted now (on_uncertain_create="
        "'resubmit'; 'fail' would stop here). Possible double payments for it so far: %d.",
        where,
        _since(entry),
        entry.uncertain_creates + 1,
    )


def unresolved_error(where: str, since: str) -> I2VCreationUnresolvedError:
    """Under "fail": stop, and say how to acknowledge and go on."""
    return I2VCreationUnresolvedError(
        f"{where}a create sent at {since} has an unknown outcome: a generation may exist and may have been "
        "paid for. on_uncertain_create='fail', so nothing is submitted. Check the vendor's console; to "
        f"acknowledge it and submit anew, set this task instance's task_state_store key {ACKNOWLEDGE_KEY!r} "
        "(any value, e.g. with Airflow's REST API: PUT /api/v2/dags/<dag_id>/dagRuns/<run_id>/"
        f"taskInstances/<task_id>/state-store/{ACKNOWLEDGE_KEY}?map_index=<n> with body "
        '{"value": true}), then clear the task.'
    )


def resubmit_delay(
    exc: BaseException, policy: UncertainCreatePolicy, resubmits: int, *, initial: float, cap: float
) -> float | None:
    """After a failed create: seconds to wait before sending it again within this try, or
    ``None`` to stop. Only an unknown outcome under "resubmit" is sent again, a bounded
    number of times with exponential back-off (the caller warns and counts each)."""
    if policy != "resubmit" or not isinstance(exc, I2VCreationUncertainError):
        return None
    if isinstance(exc, I2VCreationUnresolvedError) or resubmits >= MAX_RESUBMITS:
        return None
    return float(min(cap, initial * 2**resubmits))


class PaidCreate:
    """One slot's create, step by step (the invariants are the module docstring's).

    Used as::

        create = PaidCreate(slot, asked, where="", log=log)
        create.intend()
        try:
            state = await hook.acreate_generation(request)
        except BaseException as exc:
            create.failed(exc)
            raise
        entry = create.accepted(state)   # stored; only now announce it
    """

    def __init__(self, slot: Slot, asked: Asked, *, where: str, log: Any) -> None:
        self._slot = slot
        self._asked = asked
        self._where = where
        self._log = log
        self._before: Entry | None = None

    def intend(self) -> Entry:
        """Write the intent; a failure raises before anything is sent (retryable, free)."""
        before = self._slot.read()
        self._before = before
        intent = Entry(
            request=self._asked.digest,
            gateway=self._asked.gateway,
            conn_id=self._asked.conn_id,
            model=self._asked.model,
            image=self._asked.image,
            pending_since=time.time(),
            uncertain_creates=before.uncertain_creates + (1 if before.pending_since is not None else 0),
        )
        try:
            self._slot.write(intent, paid=None)
        except BaseException:
            self._restore()  # interrupted while writing it: nothing was sent either
            raise
        return intent

    def accepted(self, state: GenerationState) -> Entry:
        """Log the id, store it (once more if interrupted meanwhile); returns the stored entry."""
        gid = state.generation_id
        entry = replace(
            self._slot.read(),
            generation_id=gid,
            submitted_at=time.time(),
            pending_since=None,
            status=Status.SUBMITTED,
        )
        try:
            self._log.info(
                "%sSubmitted generation %s (model %s); it is paid for from here on",
                self._where,
                gid,
                self._asked.model,
            )
            self._slot.write(entry, paid=gid)
        except I2VNonRetryableError:
            raise  # every attempt failed: the log above names the id, the error says how to collect it
        except BaseException:
            with contextlib.suppress(Exception):  # a timeout or SIGTERM struck during the write
                self._slot.write(entry, paid=gid)
            raise
        return entry

    def failed(self, exc: BaseException) -> bool:
        """The create raised ``exc``: returns whether a generation may exist (intent kept, said)."""
        if proves_nothing_created(exc):
            self._restore()
            return False
        if not isinstance(exc, I2VCreationUncertainError):  # the transport already said it
            self._log.warning(
                "%sThe create was interrupted (%s) before its answer arrived: a generation MAY have been "
                "created and paid for on the gateway. The next try of this task will say so.",
                self._where,
                type(exc).__name__,
            )
        return True

    def _restore(self) -> None:
        """Put back what was stored before the intent (the create provably created nothing)."""
        try:
            self._slot.write(self._before or Entry(), paid=None)
        except Exception as exc:  # the intent stays: the next try warns needlessly, never pays silently
            self._log.warning(
                "%sCould not withdraw the create intent from task_state_store: %s", self._where, exc
            )


def record_outcome(slot: Slot, outcome: Outcome, *, files: list[dict[str, Any]] | None = None) -> Entry:
    """Record a terminal generation in its slot (a later try or clear that finds it delivered
    pays nothing and asks nobody). The metrics of a generation's end are emitted here, once:
    when its record first says so (a reuse or a clear does not count it again)."""
    before = slot.read()
    status = Status.COMPLETED if outcome.completed else Status.FAILED
    if before.status is not status or before.generation_id != outcome.generation_id:
        _count_end(outcome)
    entry = replace(
        before,
        generation_id=outcome.generation_id,
        pending_since=None,
        status=status,
        finished_at=time.time(),
        render_seconds=outcome.render_seconds,
        cost=None if outcome.cost is None else str(outcome.cost),
        error=outcome.error_json(),
        video_urls=outcome.video_urls,
        output_urls=outcome.output_urls if outcome.output_urls != outcome.video_urls else (),
        usage=outcome.usage or None,
        metadata=outcome.metadata or None,
        files=tuple(files) if files is not None else before.files,
    )
    slot.write(entry, paid=None)
    return entry


def _count_end(outcome: Outcome) -> None:
    from airflow_provider_i2v import metrics

    if outcome.completed:
        metrics.generation_completed(outcome.model)
        metrics.render_time(outcome.render_seconds, outcome.model)
        metrics.cost(outcome.cost, outcome.model)
    else:
        metrics.generation_failed(outcome.error.code if outcome.error else None)
