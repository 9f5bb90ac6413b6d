"""The one owner of the paid create's life cycle: what was paid for, and what to do next.

The generation a try paid for is kept in the task instance's ``task_state_store``
(:mod:`airflow_provider_i2v.state`: why there, and how it is read and written), and every
later try reads it before it may pay again. Two invariants are never relaxed:

1. **An intent is written before the create is sent** (``pending_since``), and only an
   answer that proves nothing was created removes it. Any other interruption of the
   create (an unknown answer, a task timeout, SIGTERM, ``KeyboardInterrupt``, a SIGKILL
   that runs no code at all) leaves it, so the next try knows that a generation may
   exist and may have been paid for, and says so before it decides.
2. **An accepted id is stored before anything else happens**: logged first (so the log
   names what was paid for, whatever comes next), then written (with retries), and
   only then pushed to XCom. A try that cannot store it fails without retry, because a
   retry that cannot find it would pay again.

The entry is removed only after Airflow has recorded the task's success (by
:func:`forget_after_success`, which the operator installs as its last success
callback), so a manual clear of a succeeded task generates a new video, while a try
that fails after its result was built (pushing the return value, a kill before the
success is recorded) leaves the entry, and the next try reuses the paid result.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_i2v.exceptions import (
    I2VCreationUncertainError,
    I2VCreationUnresolvedError,
    I2VError,
    I2VGenerationNotFoundError,
    I2VNonRetryableError,
    I2VStateStoreError,
)
from airflow_provider_i2v.protocol import GenerationState, GenerationStatus
from airflow_provider_i2v.state import Entry, EntryStore

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.hooks.i2v import I2VHook

#: XCom key of the generation id, pushed as soon as it is stored.
XCOM_GENERATION_ID = "generation_id"
#: What a try does after an earlier create's outcome stayed unknown.
UncertainCreatePolicy = Literal["resubmit", "fail"]
UNCERTAIN_CREATE_POLICIES: tuple[UncertainCreatePolicy, ...] = ("resubmit", "fail")


class Action(enum.Enum):
    """What a try does with what an earlier try left."""

    SUBMIT = "submit"
    RECONNECT = "reconnect"
    REUSE = "reuse"


@dataclass(frozen=True)
class Recalled:
    action: Action
    entry: Entry
    #: The gateway's answer about the stored generation (reconnect and reuse).
    state: GenerationState | None = None


def proves_nothing_created(exc: BaseException) -> bool:
    """Whether an exception out of ``I2VHook.create_generation`` proves no generation exists.

    The hook raises a typed :class:`I2VError` only for outcomes it knows: a refusal (400,
    401, 402/403, 404), a configuration error found before sending, or transient failures
    that all happened before the request was processed. Its one unknown outcome is
    :class:`I2VCreationUncertainError`. Anything else (a task timeout, SIGTERM, Ctrl-C,
    a bug) may have interrupted a create that the gateway received: unknown.
    """
    return isinstance(exc, I2VError) and not isinstance(exc, I2VCreationUncertainError)


class GenerationLedger:
    """Reads and writes one task instance's :class:`Entry`; decides reuse, reconnect or submit."""

    def __init__(
        self, context: Context, log: Any, *, on_uncertain_create: UncertainCreatePolicy = "resubmit"
    ) -> None:
        self._entries = EntryStore(context.get("task_state_store"))
        self._ti = context["ti"]
        self._log = log
        self._policy = on_uncertain_create

    @property
    def entry(self) -> Entry:
        """The stored entry (read once; raises :class:`I2VStateStoreError` if unreadable)."""
        return self._entries.read()

    # -- reading ---------------------------------------------------------------------------

    def recall(self, hook: I2VHook) -> Recalled:
        """Reuse a completed generation, reconnect to a running one, or submit (anew)."""
        entry = self.entry
        if entry.generation_id is not None:
            recalled = self._look_up(hook, entry)
            if recalled.action is not Action.SUBMIT:
                self.push_id(entry.generation_id)
                return recalled
        if entry.pending_since is not None:
            self._warn_uncertain(entry)
        return Recalled(Action.SUBMIT, entry)

    def _look_up(self, hook: I2VHook, entry: Entry) -> Recalled:
        gid = str(entry.generation_id)
        try:
            state = hook.get_generation(gid)  # a transient failure propagates: never submit unsure
        except I2VGenerationNotFoundError:
            self._log.warning(
                "Generation %s of an earlier try is unknown to the gateway (expired?); submitting a new one",
                gid,
            )
            return Recalled(Action.SUBMIT, entry)
        if state.status is GenerationStatus.RUNNING:
            self._log.info(
                "Reconnecting to generation %s of an earlier try (status %s); not submitting again",
                gid,
                state.raw_status,
            )
            return Recalled(Action.RECONNECT, entry, state)
        if state.status is GenerationStatus.COMPLETED:
            self._log.info("Generation %s of an earlier try completed; reusing its result", gid)
            return Recalled(Action.REUSE, entry, state)
        error = state.error
        self._log.warning(
            "Generation %s of an earlier try failed (code %s: %s); submitting a new one",
            gid,
            error.code if error else None,
            error.message if error else "no message",
        )
        return Recalled(Action.SUBMIT, entry)

    def _warn_uncertain(self, entry: Entry) -> None:
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.pending_since or 0))
        if self._policy == "fail":
            raise I2VCreationUnresolvedError(
                f"an earlier try of this task sent a create at {since} whose outcome is unknown: a "
                "generation may exist and may have been paid for. on_uncertain_create='fail', so nothing "
                "is submitted; check the vendor's console, then clear the task to submit anew."
            )
        self._log.warning(
            "An earlier try of this task sent a create at %s whose outcome is unknown: a generation may "
            "exist and may have been paid for. The gateway cannot look it up, so a new one is submitted "
            "now (on_uncertain_create='resubmit'; 'fail' would stop here). Possible double payments "
            "for this task instance so far: %d.",
            since,
            entry.uncertain_creates + 1,
        )

    # -- the paid create -------------------------------------------------------------------

    @contextlib.contextmanager
    def submitting(self, what: str = "") -> Iterator[Submission]:
        """Around the create: the intent before it, the id after it, and what an interruption means.

        Use as::

            with ledger.submitting("model ..., 720P, 6s") as submission:
                submission.accepted(hook.create_generation(request))
        """
        before = self.entry
        uncertain = before.uncertain_creates + (1 if before.pending_since is not None else 0)
        intent = Entry(pending_since=time.time(), uncertain_creates=uncertain)
        try:
            self._entries.write(intent, paid=None)  # fails before anything is sent: retryable, free
        except BaseException:
            self._restore(before)  # interrupted while writing it: nothing was sent either
            raise
        submission = Submission(self, what)
        try:
            yield submission
        except BaseException as exc:
            if submission.state is not None:
                submission.settle_interrupted(exc)
            elif proves_nothing_created(exc):
                self._restore(before)
            else:
                self._interrupted_create(exc)
            raise
        if submission.state is None:
            raise RuntimeError("submitting() ended without an accepted generation")

    def _restore(self, before: Entry) -> None:
        """Put back what was stored before the intent (the create provably created nothing)."""
        try:
            if before.to_json():
                self._entries.write(before, paid=None)
            else:
                self._entries.delete()
        except Exception as exc:  # the intent stays: the next try warns needlessly, never pays silently
            self._log.warning("Could not remove the create intent from task_state_store: %s", exc)

    def _interrupted_create(self, exc: BaseException) -> None:
        """The create's outcome is unknown: the intent stays, and the log says so now."""
        if not isinstance(exc, I2VCreationUncertainError):  # the transport already said it
            self._log.warning(
                "The create request was interrupted (%s) before its answer arrived: a generation MAY "
                "have been created and paid for on the gateway. The next try of this task will say so.",
                type(exc).__name__,
            )
        if self._policy == "fail" and isinstance(exc, I2VCreationUncertainError):
            raise I2VCreationUnresolvedError(
                f"{exc.message}; on_uncertain_create='fail', so no later try pays again"
            ) from exc

    def accept(self, state: GenerationState, what: str = "") -> Entry:
        """Record an accepted generation: logged, stored (with retries), then pushed to XCom."""
        gid = state.generation_id
        self._log.info(
            "Submitted generation %s%s; it is paid for from here on", gid, f" ({what})" if what else ""
        )
        entry = replace(self.entry, generation_id=gid, submitted_at=time.time(), pending_since=None)
        try:
            self._entries.write(entry, paid=gid)
        except I2VNonRetryableError:
            with contextlib.suppress(Exception):  # at least the UI shows what was paid for
                self.push_id(gid)
            raise
        self.push_id(gid)
        return entry

    def record_files(self, files: list[dict[str, Any]]) -> None:
        """Remember copied outputs (a failure here only costs a second download later)."""
        try:
            self._entries.write(replace(self.entry, files=tuple(files)), paid=None)
        except I2VStateStoreError as exc:
            self._log.warning("Could not record the copied outputs (%s); a retry copies them again", exc)

    def push_id(self, generation_id: str) -> None:
        self._ti.xcom_push(key=XCOM_GENERATION_ID, value=generation_id)

    # -- the sensor's deadline -------------------------------------------------------------

    def deadline(self, seconds: float) -> float:
        """An absolute deadline ``seconds`` from the first try that asked, the same for later tries."""
        if self.entry.deadline is None:
            self._entries.write(replace(self.entry, deadline=time.time() + seconds), paid=None)
        return float(self.entry.deadline or 0.0)

    # -- writing ---------------------------------------------------------------------------

    def forget(self) -> None:
        """Remove the entry (after Airflow recorded the task's success)."""
        self._entries.delete()


class Submission:
    """The create in flight inside :meth:`GenerationLedger.submitting`."""

    def __init__(self, ledger: GenerationLedger, what: str = "") -> None:
        self._ledger = ledger
        self._what = what
        self.state: GenerationState | None = None
        self.entry: Entry | None = None

    def accepted(self, state: GenerationState) -> None:
        self.state = state  # from here on an interruption must not lose the id
        self.entry = self._ledger.accept(state, self._what)

    def settle_interrupted(self, exc: BaseException) -> None:
        """The id was in hand when ``exc`` struck (a timeout during the write?): store it once more."""
        if self.entry is not None or isinstance(exc, I2VNonRetryableError) or self.state is None:
            return
        with contextlib.suppress(Exception):
            self._ledger._entries.write(
                replace(self._ledger.entry, generation_id=self.state.generation_id, pending_since=None),
                paid=self.state.generation_id,
            )


def forget_after_success(context: Context) -> None:
    """A success callback: the task's success is recorded, so its generation is done with."""
    GenerationLedger(context, log=None).forget()
