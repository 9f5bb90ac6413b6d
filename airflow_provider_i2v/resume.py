"""The one owner of the paid create's life cycle: what was paid for, and what to do next.

Why it lives in ``task_state_store``: XCom is cleared when a task instance is retried
or cleared, while ``task_state_store`` rows are keyed by (dag run, task id, map index)
and survive every retry and clear of the same task instance. So the generation a try
paid for is written there, and every later try reads it before it may pay again.

One key, :data:`STATE_KEY`, holds one :class:`Entry`. Two invariants are never relaxed:

1. **An intent is written before the create is sent** (``pending_since``), and only an
   answer that proves nothing was created removes it. Any other interruption of the
   create (an unknown answer, a task timeout, SIGTERM, ``KeyboardInterrupt``, a SIGKILL
   that runs no code at all) leaves it, so the next try knows that a generation may
   exist and may have been paid for, and says so before it decides.
2. **An accepted id is stored before anything else happens**: logged first (so the log
   names what was paid for, whatever comes next), then written (with retries), and
   only then pushed to XCom. A try that cannot store it fails without retry, because a
   retry that cannot find it would pay again.

"Could not read the state" raises :class:`~airflow_provider_i2v.exceptions.I2VStateStoreError`:
it is not the same fact as "there is no state", and only the latter may lead to a create.

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

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.hooks.i2v import I2VHook

#: The key in ``task_state_store``. Renaming it breaks in-flight retries of deployed DAGs.
STATE_KEY = "i2v_generation"
#: XCom key of the generation id, pushed as soon as it is stored.
XCOM_GENERATION_ID = "generation_id"
#: What a try does after an earlier create's outcome stayed unknown.
UncertainCreatePolicy = Literal["resubmit", "fail"]
UNCERTAIN_CREATE_POLICIES: tuple[UncertainCreatePolicy, ...] = ("resubmit", "fail")
_STORE_ATTEMPTS = 4


@dataclass(frozen=True)
class Entry:
    """What ``task_state_store`` holds for one task instance."""

    generation_id: str | None = None
    submitted_at: float | None = None
    #: A create was about to be sent at this time and its outcome is not known.
    pending_since: float | None = None
    #: Creates sent by earlier tries whose outcome was never known (possible double payments).
    uncertain_creates: int = 0
    #: The sensor's absolute deadline, kept across its tries.
    deadline: float | None = None
    #: Outputs already copied to ``output_dir`` (``StoredFile`` records), so a later try
    #: that reuses the generation does not download them again.
    files: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = {key: value for key, value in self.__dict__.items() if value not in (None, 0, ())}
        if self.files:
            data["files"] = list(self.files)
        return data

    @classmethod
    def from_json(cls, raw: Any) -> Entry:
        if isinstance(raw, str) and raw:  # written by the first releases
            return cls(generation_id=raw)
        if not isinstance(raw, dict):
            return cls()
        gid = raw.get("generation_id")
        return cls(
            generation_id=gid if isinstance(gid, str) and gid else None,
            submitted_at=_number(raw.get("submitted_at")),
            pending_since=_number(raw.get("pending_since")),
            uncertain_creates=int(_number(raw.get("uncertain_creates")) or 0),
            deadline=_number(raw.get("deadline")),
            files=tuple(f for f in raw.get("files") or () if isinstance(f, dict)),
        )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


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
        self._store = context.get("task_state_store")
        self._ti = context["ti"]
        self._log = log
        self._policy = on_uncertain_create
        self._entry: Entry | None = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def entry(self) -> Entry:
        """The stored entry (read once; raises :class:`I2VStateStoreError` if unreadable)."""
        if self._entry is None:
            if self._store is None:
                self._entry = Entry()
            else:
                try:
                    raw = self._store.get(STATE_KEY)
                except Exception as exc:
                    raise I2VStateStoreError(
                        f"task_state_store could not be read ({type(exc).__name__}: {exc}); nothing was "
                        "submitted, because an earlier try's generation may be stored there"
                    ) from exc
                self._entry = Entry.from_json(raw)
        return self._entry

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
            self._write(intent, paid=None)  # fails before anything is sent: retryable, free
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
                self._write(before, paid=None)
            else:
                self._delete()
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
            self._write(entry, paid=gid)
        except I2VNonRetryableError:
            with contextlib.suppress(Exception):  # at least the UI shows what was paid for
                self.push_id(gid)
            raise
        self.push_id(gid)
        return entry

    def record_files(self, files: list[dict[str, Any]]) -> None:
        """Remember copied outputs (a failure here only costs a second download later)."""
        try:
            self._write(replace(self.entry, files=tuple(files)), paid=None)
        except I2VStateStoreError as exc:
            self._log.warning("Could not record the copied outputs (%s); a retry copies them again", exc)

    def push_id(self, generation_id: str) -> None:
        self._ti.xcom_push(key=XCOM_GENERATION_ID, value=generation_id)

    # -- the sensor's deadline -------------------------------------------------------------

    def deadline(self, seconds: float) -> float:
        """An absolute deadline ``seconds`` from the first try that asked, the same for later tries."""
        if self.entry.deadline is None:
            self._write(replace(self.entry, deadline=time.time() + seconds), paid=None)
        return float(self.entry.deadline or 0.0)

    # -- writing ---------------------------------------------------------------------------

    def forget(self) -> None:
        """Remove the entry (after Airflow recorded the task's success)."""
        self._delete()

    def _delete(self) -> None:
        if self._store is not None:
            self._store.delete(STATE_KEY)
        self._entry = Entry()

    def _write(self, entry: Entry, *, paid: str | None) -> None:
        """Store ``entry`` with a few attempts; ``paid`` names an accepted generation at stake."""
        if self._store is None:
            self._entry = entry
            return
        import tenacity  # not at module level: the operator imports this module at DAG-parse time

        try:
            for attempt in tenacity.Retrying(
                stop=tenacity.stop_after_attempt(_STORE_ATTEMPTS),
                wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=4),
                reraise=True,
            ):
                with attempt:
                    self._store.set(STATE_KEY, entry.to_json())
        except Exception as exc:
            if paid is None:
                raise I2VStateStoreError(
                    f"task_state_store could not be written ({type(exc).__name__}: {exc}); nothing was "
                    "submitted"
                ) from exc
            raise I2VNonRetryableError(
                f"the generation was accepted (and is paid for) but could not be recorded in "
                f"task_state_store ({type(exc).__name__}: {exc}); failing without retry so that a retry "
                "does not pay for a second one. Collect its result with "
                f"I2VTaskSensor(generation_id={paid!r}).",
                generation_id=paid,
            ) from exc
        self._entry = entry


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
            self._ledger._write(
                replace(self._ledger.entry, generation_id=self.state.generation_id, pending_since=None),
                paid=self.state.generation_id,
            )


def forget_after_success(context: Context) -> None:
    """A success callback: the task's success is recorded, so its generation is done with."""
    GenerationLedger(context, log=None).forget()
