"""Each item's paid create, remembered across tries: the single operator's rules, per item.

Every item has its own :class:`~airflow_provider_i2v.state.Entry` (intent before its
create, id stored as soon as it is accepted, files before their final name); the rules
of :mod:`airflow_provider_i2v.resume` apply to each one, including what an interruption
means (:func:`~airflow_provider_i2v.resume.proves_nothing_created`).

Entries are kept in chunks of :data:`CHUNK_ITEMS` per ``task_state_store`` key
(``i2v_batch/<n>``): one key per item would make recalling a 5,000-item batch 5,000
round trips through the supervisor; one key for all would rewrite hundreds of KB per
create. A chunk is a few KB, and an item's write rewrites only its own chunk. All
writes happen on the one thread that owns the task's supervisor channel.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import I2VStateStoreError
from airflow_provider_i2v.resume import UncertainCreatePolicy
from airflow_provider_i2v.state import Entry, write_with_retries

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.protocol import GenerationState

CHUNK_ITEMS = 100
KEY_PREFIX = "i2v_batch/"
#: Why items have no generation this try (invalid, not submitted, uncertain), for the
#: manifest built after the deferral, in another process.
NOTES_KEY = f"{KEY_PREFIX}notes"


def chunk_key(index: int) -> str:
    return f"{KEY_PREFIX}{index // CHUNK_ITEMS}"


class BatchLedger:
    """The entries of every item of one batch task instance."""

    def __init__(self, context: Context, log: Any, *, on_uncertain_create: UncertainCreatePolicy) -> None:
        self._store = context.get("task_state_store")
        self._log = log
        self.policy = on_uncertain_create
        self._chunks: dict[str, dict[str, Any]] = {}

    # -- reading ---------------------------------------------------------------------------

    def load(self, count: int) -> dict[int, Entry]:
        """Every item's entry (raises :class:`I2VStateStoreError` if a chunk cannot be read)."""
        for key in sorted({chunk_key(index) for index in range(count)}):
            if key in self._chunks:
                continue
            try:
                raw = self._store.get(key) if self._store is not None else None
            except Exception as exc:
                raise I2VStateStoreError(
                    f"task_state_store key {key!r} could not be read ({type(exc).__name__}: {exc}); "
                    "nothing was submitted, because earlier tries' generations may be stored there"
                ) from exc
            self._chunks[key] = dict(raw) if isinstance(raw, dict) else {}
        return {index: self.entry(index) for index in range(count)}

    def entry(self, index: int) -> Entry:
        return Entry.from_json(self._chunks.get(chunk_key(index), {}).get(str(index)))

    def notes(self) -> dict[int, dict[str, Any]]:
        """This try's notes on items without a generation (read once)."""
        if NOTES_KEY not in self._chunks:
            raw = self._store.get(NOTES_KEY) if self._store is not None else None
            self._chunks[NOTES_KEY] = dict(raw) if isinstance(raw, dict) else {}
        return {int(index): note for index, note in self._chunks[NOTES_KEY].items()}

    def write_notes(self, notes: dict[int, dict[str, Any]]) -> None:
        """Replace the notes (one write, after the submissions)."""
        self._chunks[NOTES_KEY] = {str(index): note for index, note in notes.items()}
        self._flush({NOTES_KEY}, paid=None)

    # -- writing ---------------------------------------------------------------------------

    def intend(self, indexes: list[int]) -> None:
        """Intents for ``indexes``, written before any of their creates is sent."""
        now = time.time()
        for index in indexes:
            before = self.entry(index)
            uncertain = before.uncertain_creates + (1 if before.pending_since is not None else 0)
            self._set(index, Entry(pending_since=now, uncertain_creates=uncertain))
        self._flush({chunk_key(index) for index in indexes}, paid=None)

    def restore(self, index: int, before: Entry) -> None:
        """The item's create provably created nothing: put back what was there."""
        self._set(index, before)
        try:
            self._flush({chunk_key(index)}, paid=None)
        except I2VStateStoreError as exc:  # the intent stays: a needless warning, never a silent payment
            self._log.warning("images[%d]: could not withdraw the create intent: %s", index, exc)

    def accept(self, index: int, state: GenerationState) -> Entry:
        """The item's generation is accepted: store it at once (the same rules as the operator)."""
        entry = replace(
            self.entry(index), generation_id=state.generation_id, submitted_at=time.time(), pending_since=None
        )
        self._set(index, entry)
        self._flush({chunk_key(index)}, paid=state.generation_id)
        return entry

    def record_files(self, index: int, files: list[dict[str, Any]]) -> None:
        self._set(index, replace(self.entry(index), files=tuple(files)))
        try:
            self._flush({chunk_key(index)}, paid=None)
        except I2VStateStoreError as exc:
            self._log.warning("images[%d]: could not record the copied outputs (%s)", index, exc)

    def forget(self) -> None:
        """Every chunk of this task instance (after Airflow recorded the success)."""
        if self._store is not None:
            self._store.clear()
        self._chunks.clear()

    def _set(self, index: int, entry: Entry) -> None:
        chunk = self._chunks.setdefault(chunk_key(index), {})
        data = entry.to_json()
        if data:
            chunk[str(index)] = data
        else:
            chunk.pop(str(index), None)

    def _flush(self, keys: set[str], *, paid: str | None) -> None:
        if self._store is None:
            return
        for key in sorted(keys):
            write_with_retries(self._store, key, self._chunks.get(key) or {}, paid=paid)


def forget_batch_after_success(context: Context) -> None:
    """A success callback: the batch's success is recorded, so its entries are done with."""
    store = context.get("task_state_store")
    if store is not None:
        store.clear()
