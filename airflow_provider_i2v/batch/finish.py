"""After the wait: keep every completed item's videos, record each item, write the manifest.

Runs on the worker (``execute_complete``, or the blocking path), in whichever process
resumes the task: everything it needs comes from the wait's result (the trigger's event)
and from each item's record in ``task_state_store``. One item's trouble (a failure the
gateway reported, a poll error about it alone, a copy that failed) is that item's failure,
recorded in its entry and the manifest; it never fails the other items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_i2v import metrics
from airflow_provider_i2v.batch.items import BatchItem
from airflow_provider_i2v.batch.manifest import (
    ManifestItem,
    failure_summary,
    totals,
    write_manifest,
    xcom_value,
)
from airflow_provider_i2v.exceptions import I2VError
from airflow_provider_i2v.generation.outcome import Outcome
from airflow_provider_i2v.generation.record import BatchSlots, Entry, Status
from airflow_provider_i2v.generation.results import error_payload
from airflow_provider_i2v.generation.rules import outcome_of_record
from airflow_provider_i2v.generation.wait import WaitResult


@dataclass(frozen=True)
class Finished:
    """The batch's result, and why the task fails (``None``: it succeeds)."""

    value: dict[str, Any]
    manifest: list[ManifestItem]
    manifest_uri: str | None
    verdict: str | None


def finish_batch(
    items: list[BatchItem],
    slots: BatchSlots,
    waited: WaitResult,
    *,
    keep: Callable[[int, Outcome, Entry], list[dict[str, Any]]] | None,
    output_dir: Any,
    max_inline_items: int,
    accepts: Callable[[int, int], bool],
    log: Any,
) -> Finished:
    """One manifest entry per item (its record updated), the manifest written, the verdict.

    ``keep(index, outcome, entry)`` copies a completed item's outputs (``None``: no ``output_dir``).
    """
    manifest: list[ManifestItem] = []
    records: dict[int, Entry] = {}
    for item in items:
        entry = slots.entry(item.index)
        manifest_item, record = _item(item, entry, waited, keep, log, slots)
        entry = slots.entry(item.index)  # copies remembered meanwhile are part of it
        manifest.append(manifest_item)
        if record != entry:
            records[item.index] = record
        if record.status is not None and record.status is not entry.status:
            metrics.batch_item(record.status.value)  # counted when an item reaches an outcome
    try:
        slots.write_many(records, paid=None)
    except I2VError as exc:  # the result does not depend on it; a later try looks the ids up again
        log.warning("Could not record the items' outcomes in task_state_store (%s)", exc)
    uri = write_manifest(manifest, output_dir) if output_dir else None
    value = xcom_value(manifest, uri, max_inline_items)
    summary = totals(manifest)
    log.info(
        "Batch finished: %d of %d succeeded (%s); total cost %s USD%s",
        summary["succeeded"],
        summary["items"],
        ", ".join(f"{n} {s}" for s, n in summary["statuses"].items()),
        summary["total_cost"],
        f"; manifest {uri}" if uri else "",
    )
    counted = [item for item in manifest if item.status is not Status.INVALID]
    undelivered = [item for item in manifest if item.status in (Status.TIMEOUT, Status.UNCERTAIN)]
    if accepts(sum(item.succeeded for item in counted), len(counted)):
        if undelivered:
            log.warning(
                "%d items were not delivered in this try (%s). To collect them, clear this task instance: "
                "rendering generations are reconnected and delivered ones reused (nothing is paid again "
                "for an unchanged request); uncertain creates follow on_uncertain_create.",
                len(undelivered),
                failure_summary(undelivered),
            )
        return Finished(value, manifest, uri, None)
    verdict = (
        f"{summary['failed']} of {summary['items']} items did not succeed: {failure_summary(manifest)}. "
        "A retry (or a clear) reuses completed items, reconnects to rendering ones and submits only "
        "failed ones."
    )
    return Finished(value, manifest, uri, verdict)


def _item(
    item: BatchItem,
    entry: Entry,
    waited: WaitResult,
    keep: Callable[[int, Outcome, Entry], list[dict[str, Any]]] | None,
    log: Any,
    slots: BatchSlots,
) -> tuple[ManifestItem, Entry]:
    """One item's manifest line and its updated record (built on the record as it is after
    the copy, which remembers each copied file as it goes)."""
    base = ManifestItem(
        index=item.index,
        image=item.describe(),
        status=entry.status or Status.NOT_SUBMITTED,
        generation_id=entry.generation_id,
        uncertain_creates=entry.uncertain_creates,
        error=entry.error,
    )
    gid = entry.generation_id
    outcome: Outcome | None = None
    if gid is not None and gid in waited.outcomes:
        outcome = waited.outcomes[gid]
    elif gid is not None and gid in waited.failures:
        error = error_payload(waited.failures[gid])
        failed = {"code": error["code"], "message": error["message"]}
        return replace(base, status=Status.FAILED, error=failed), replace(
            entry, status=Status.FAILED, error=failed
        )
    elif entry.status is Status.COMPLETED:
        outcome = outcome_of_record(entry)
    elif gid is not None and entry.status in (Status.SUBMITTED, Status.TIMEOUT):
        timeout = {"code": None, "message": "still rendering when this try stopped waiting"}
        return replace(base, status=Status.TIMEOUT, error=timeout), replace(entry, status=Status.TIMEOUT)
    if outcome is None:
        return base, entry
    from airflow_provider_i2v.generation.rules import record_outcome

    holder = _Holder(entry)
    if not outcome.completed:
        record_outcome(holder, outcome)
        line = replace(base, status=Status.FAILED, error=outcome.error_json(), usage=dict(outcome.usage))
        return line, holder.entry
    files = None
    if keep is not None:
        try:
            files = keep(item.index, outcome, entry)
        except Exception as exc:  # one item's copy is that item's failure, not the batch's
            message = exc.message if isinstance(exc, I2VError) else f"{type(exc).__name__}: {exc}"
            log.warning("%scopying the outputs of generation %s failed: %s", item.where, gid, message)
            error = {"code": "output_copy_failed", "message": message}
            holder = _Holder(slots.entry(item.index))
            record_outcome(holder, outcome)
            line = replace(base, status=Status.FAILED, generation_id=outcome.generation_id, error=error)
            return line, replace(holder.entry, status=Status.FAILED, error=error)
    holder = _Holder(slots.entry(item.index))
    record_outcome(holder, outcome, files=files)
    line = replace(
        base,
        status=Status.COMPLETED,
        generation_id=outcome.generation_id,
        video_urls=list(outcome.video_urls),
        usage=dict(outcome.usage),
        error=None,
        files=files,
    )
    return line, holder.entry


class _Holder:
    """A slot in memory: the record is built here and written with the others, chunk by chunk."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry

    def read(self) -> Entry:
        return self.entry

    def write(self, entry: Entry, *, paid: str | None) -> None:
        self.entry = entry
