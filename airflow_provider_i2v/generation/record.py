"""What ``task_state_store`` holds for each paid slot, read once and written with retries.

Why there: XCom is cleared when a task instance is retried or cleared; ``task_state_store``
rows are keyed by (dag run, task id, map index) and survive every retry and every clear of
the same task instance, until Airflow's retention removes them (30 days by default). The
provider never deletes them itself: a record is what makes a clear of a succeeded run reuse
the paid result instead of paying again, and what the "Video generations" page lists.

One record shape, :class:`Entry`, for a single task (key :data:`STATE_KEY`) and for every
item of a batch (keys :data:`BATCH_KEY_PREFIX` ``<n>``, :data:`CHUNK_ITEMS` items a key, so
recalling a 5,000-item batch is 50 round trips, and one item's write rewrites a few KB).
The rules for what is written when live in :mod:`.rules`.

"Could not read the state" raises :class:`~airflow_provider_i2v.exceptions.I2VStateStoreError`:
it is not the same fact as "there is no state", and only the latter may lead to a create.
"""

from __future__ import annotations

import enum
import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from airflow_provider_i2v.exceptions import I2VNonRetryableError, I2VStateStoreError

#: The single operator's key. Renaming it breaks in-flight retries of deployed DAGs.
STATE_KEY = "i2v_generation"
#: The batch's keys: ``i2v_batch/0`` holds items 0..99, ``i2v_batch/1`` items 100..199, ...
BATCH_KEY_PREFIX = "i2v_batch/"
CHUNK_ITEMS = 100
#: The sensor's own key (its deadline); it pays for nothing, so it is not a generation record.
SENSOR_KEY = "i2v_sensor"
#: Set by a user (REST API or UI) to acknowledge an uncertain create: see :mod:`.rules`.
ACKNOWLEDGE_KEY = "i2v_acknowledge_uncertain"
_STORE_ATTEMPTS = 4
#: The first pause between two attempts (doubling, jittered, at most STORE_BACKOFF_MAX).
STORE_BACKOFF = 0.2
STORE_BACKOFF_MAX = 2.0


class Status(enum.StrEnum):
    """What the worker last knew of a slot: the batch's item statuses and the record's."""

    SUBMITTED = "submitted"  # accepted; rendering as far as the worker knows
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"  # still rendering when this try stopped waiting
    UNCERTAIN = "uncertain"  # its create's outcome is unknown (it may exist and be paid for)
    INVALID = "invalid"  # refused before anything was sent (a batch with on_invalid="skip")
    NOT_SUBMITTED = "not_submitted"  # its create provably created nothing


@dataclass(frozen=True)
class Entry:
    """One paid slot: a single task instance, or one batch item."""

    generation_id: str | None = None
    #: Digest of what was asked (model, parameters, image bytes, revision): see request.digest.
    request: str | None = None
    #: The gateway base URL the generation was created on.
    gateway: str | None = None
    conn_id: str | None = None
    model: str | None = None
    #: A short description of the first frame (never a data URL's bytes).
    image: str | None = None
    #: A create was about to be sent at this time and its outcome is not known (the intent).
    pending_since: float | None = None
    #: Creates of this slot whose outcome was never known (possible double payments).
    uncertain_creates: int = 0
    submitted_at: float | None = None
    status: Status | None = None
    finished_at: float | None = None
    render_seconds: float | None = None
    #: Exact US dollars as a decimal string; never a float.
    cost: str | None = None
    error: dict[str, Any] | None = None
    video_urls: tuple[str, ...] = ()
    #: Other output links, when the gateway returned more than videos.
    output_urls: tuple[str, ...] = ()
    #: The gateway's ``usage`` and ``metadata`` of a delivered generation, passed through.
    usage: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    #: Outputs copied to ``output_dir`` (``{"uri", "size", "sha256", "source_url"}``).
    files: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = {}
        for key, value in asdict(self).items():
            if value in (None, 0, (), ""):
                continue
            data[key] = list(value) if isinstance(value, tuple) else value
        if self.status is not None:
            data["status"] = self.status.value
        return data

    @classmethod
    def from_json(cls, raw: Any) -> Entry:
        """Read a record; anything unreadable in it is absent (never a crash)."""
        if isinstance(raw, str) and raw:  # written by the first releases: an id alone
            return cls(generation_id=raw)
        if not isinstance(raw, dict):
            return cls()
        texts = {name: _text(raw.get(name)) for name in _TEXT_FIELDS}
        status = raw.get("status")
        error, usage, metadata = raw.get("error"), raw.get("usage"), raw.get("metadata")
        return cls(
            **texts,
            pending_since=_number(raw.get("pending_since")),
            uncertain_creates=int(_number(raw.get("uncertain_creates")) or 0),
            submitted_at=_number(raw.get("submitted_at")),
            status=Status(status)
            if isinstance(status, str) and status in Status._value2member_map_
            else None,
            finished_at=_number(raw.get("finished_at")),
            render_seconds=_number(raw.get("render_seconds")),
            error=dict(error) if isinstance(error, dict) else None,
            video_urls=_texts(raw.get("video_urls")),
            output_urls=_texts(raw.get("output_urls")),
            usage=dict(usage) if isinstance(usage, dict) else None,
            metadata=dict(metadata) if isinstance(metadata, dict) else None,
            files=tuple(f for f in raw.get("files") or () if isinstance(f, dict)),
        )


_TEXT_FIELDS = ("generation_id", "request", "gateway", "conn_id", "model", "image", "cost")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class Slot(Protocol):
    """Where one paid slot's :class:`Entry` lives."""

    def read(self) -> Entry: ...

    def write(self, entry: Entry, *, paid: str | None) -> None: ...


def read_key(store: Any, key: str) -> Any:
    """One ``task_state_store`` value; a failed read raises (it is not "nothing stored")."""
    if store is None:
        return None
    try:
        return store.get(key)
    except Exception as exc:
        raise I2VStateStoreError(
            f"task_state_store key {key!r} could not be read ({type(exc).__name__}: {exc}); nothing was "
            "submitted, because an earlier try's generation may be stored there"
        ) from exc


class KeySlot:
    """A single task instance's slot: one key (``None`` store: a context without one)."""

    def __init__(self, store: Any, key: str = STATE_KEY) -> None:
        self._store = store
        self._key = key
        self._entry: Entry | None = None

    def read(self) -> Entry:
        if self._entry is None:
            self._entry = Entry.from_json(read_key(self._store, self._key))
        return self._entry

    def write(self, entry: Entry, *, paid: str | None) -> None:
        if self._store is not None:
            write_with_retries(self._store, self._key, entry.to_json(), paid=paid)
        self._entry = entry


def chunk_key(index: int) -> str:
    return f"{BATCH_KEY_PREFIX}{index // CHUNK_ITEMS}"


class BatchSlots:
    """Every item's slot of one batch task instance, chunked (see the module docstring).

    All writes happen on the one thread that owns the task's supervisor channel (the
    worker's event loop thread, or its main thread).
    """

    def __init__(self, store: Any, count: int) -> None:
        self._store = store
        self._chunks: dict[str, dict[str, Any]] = {}
        for key in sorted({chunk_key(index) for index in range(count)}):
            raw = read_key(store, key)
            self._chunks[key] = dict(raw) if isinstance(raw, dict) else {}

    def slot(self, index: int) -> ItemSlot:
        return ItemSlot(self, index)

    def entry(self, index: int) -> Entry:
        return Entry.from_json(self._chunks.get(chunk_key(index), {}).get(str(index)))

    def write(self, index: int, entry: Entry, *, paid: str | None) -> None:
        self.write_many({index: entry}, paid=paid)

    def write_many(self, entries: dict[int, Entry], *, paid: str | None) -> None:
        """Write several items' entries, one write per chunk."""
        changed: dict[str, dict[str, Any]] = {}
        for index, entry in entries.items():
            key = chunk_key(index)
            chunk = changed.setdefault(key, dict(self._chunks.get(key, {})))
            data = entry.to_json()
            if data:
                chunk[str(index)] = data
            else:
                chunk.pop(str(index), None)
        for key, chunk in sorted(changed.items()):
            if self._store is not None:
                write_with_retries(self._store, key, chunk, paid=paid)
            self._chunks[key] = chunk  # only once stored: a failed write leaves the old view


class ItemSlot:
    """One batch item's slot."""

    def __init__(self, slots: BatchSlots, index: int) -> None:
        self._slots = slots
        self.index = index

    def read(self) -> Entry:
        return self._slots.entry(self.index)

    def write(self, entry: Entry, *, paid: str | None) -> None:
        self._slots.write(self.index, entry, paid=paid)


def write_with_retries(store: Any, key: str, value: Any, *, paid: str | None) -> None:
    """Write ``value`` under ``key`` (empty: delete it), with a few attempts.

    What a failure means depends on what is at stake: before a create (``paid`` is None)
    nothing was sent, so :class:`I2VStateStoreError` (retryable); after one, the accepted
    generation's id would be lost, so the task fails without retry rather than pay twice.
    """
    import tenacity  # not at module level: the operator imports this module at DAG-parse time

    try:
        for attempt in tenacity.Retrying(
            stop=tenacity.stop_after_attempt(_STORE_ATTEMPTS),
            wait=tenacity.wait_exponential_jitter(
                multiplier=STORE_BACKOFF, max=STORE_BACKOFF_MAX, jitter=STORE_BACKOFF
            ),
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
            f"generation {paid} was accepted (and is paid for) but could not be recorded in "
            f"task_state_store ({type(exc).__name__}: {exc}); failing without retry so that a retry "
            f"does not pay for a second one. Collect its result with I2VTaskSensor(generation_id={paid!r}).",
            generation_id=paid,
        ) from exc
