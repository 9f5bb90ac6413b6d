"""What ``task_state_store`` holds for one task instance, read once and written with retries.

XCom is cleared when a task instance is retried or cleared; ``task_state_store`` rows are
keyed by (dag run, task id, map index) and survive every retry and clear of the same task
instance. One key, :data:`STATE_KEY`, holds one :class:`Entry`; the rules for what is
written when live in :mod:`airflow_provider_i2v.resume`.

"Could not read the state" raises :class:`~airflow_provider_i2v.exceptions.I2VStateStoreError`:
it is not the same fact as "there is no state", and only the latter may lead to a create.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.exceptions import I2VNonRetryableError, I2VStateStoreError

#: The key in ``task_state_store``. Renaming it breaks in-flight retries of deployed DAGs.
STATE_KEY = "i2v_generation"
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


class EntryStore:
    """One task instance's :class:`Entry` in ``task_state_store`` (``None``: no store at all)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._entry: Entry | None = None

    def read(self) -> Entry:
        """The stored entry, read once; raises :class:`I2VStateStoreError` if unreadable."""
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

    def delete(self) -> None:
        if self._store is not None:
            self._store.delete(STATE_KEY)
        self._entry = Entry()

    def write(self, entry: Entry, *, paid: str | None) -> None:
        """Store ``entry`` with a few attempts; ``paid`` names an accepted generation at stake."""
        if self._store is not None:
            write_with_retries(self._store, STATE_KEY, entry.to_json(), paid=paid)
        self._entry = entry


def write_with_retries(store: Any, key: str, value: Any, *, paid: str | None) -> None:
    """Write ``value`` under ``key`` (``None`` or empty: delete it), with a few attempts.

    What a failure means depends on what is at stake: before a create (``paid`` is None)
    nothing was sent, so :class:`I2VStateStoreError` (retryable); after one, the accepted
    generation's id would be lost, so the task fails without retry rather than pay twice.
    """
    import tenacity  # not at module level: the operator imports this module at DAG-parse time

    try:
        for attempt in tenacity.Retrying(
            stop=tenacity.stop_after_attempt(_STORE_ATTEMPTS),
            wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=4),
            reraise=True,
        ):
            with attempt:
                if value:
                    store.set(key, value)
                else:
                    store.delete(key)
    except Exception as exc:
        if paid is None:
            raise I2VStateStoreError(
                f"task_state_store key {key!r} could not be written ({type(exc).__name__}: {exc}); "
                "nothing was submitted"
            ) from exc
        raise I2VNonRetryableError(
            f"the generation was accepted (and is paid for) but could not be recorded in "
            f"task_state_store ({type(exc).__name__}: {exc}); failing without retry so that a retry "
            "does not pay for a second one. Collect its result with "
            f"I2VTaskSensor(generation_id={paid!r}).",
            generation_id=paid,
        ) from exc
