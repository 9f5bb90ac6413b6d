"""After the wait: keep every completed item's videos, write the manifest, publish, decide.

Runs on the worker (``execute_complete``, or the blocking path), in whichever process
resumes the task: everything it needs comes from the trigger's event and from
``task_state_store`` (each item's entry, and the notes on items without a generation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.batch.manifest import (
    TIMEOUT,
    ManifestItem,
    failure_summary,
    totals,
    write_manifest,
    xcom_value,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.batch.items import BatchItem
    from airflow_provider_i2v.batch.ledger import BatchLedger
    from airflow_provider_i2v.batch.wait import BatchWait
    from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator

#: XCom key of the manifest's URI (the extra link reads it).
XCOM_MANIFEST_URI = "manifest_uri"


def manifest_items(
    op: ImageToVideoBatchOperator, items: list[BatchItem], ledger: BatchLedger, wait: BatchWait
) -> list[ManifestItem]:
    """One manifest entry per item, with its videos copied to ``output_dir`` when it completed."""
    entries = ledger.load(len(items))
    notes = ledger.notes()
    result = []
    for item in items:
        entry = entries[item.index]
        base: dict[str, Any] = {
            "index": item.index,
            "image": item.describe(),
            "uncertain_creates": entry.uncertain_creates,
        }
        if item.index in notes:
            note = notes[item.index]
            result.append(ManifestItem(**base, status=note["status"], error=note.get("error")))
            continue
        gid = str(entry.generation_id)
        outcome = wait.outcomes.get(gid)
        if outcome is None:
            error = {"code": None, "message": "still rendering at the deadline; a retry reconnects to it"}
            result.append(ManifestItem(**base, status=TIMEOUT, generation_id=gid, error=error))
            continue
        manifest_item = ManifestItem(
            **base,
            status=outcome["status"],
            generation_id=gid,
            video_urls=list(outcome.get("video_urls") or []),
            usage=dict(outcome.get("usage") or {}),
            error=outcome.get("error"),
        )
        if manifest_item.succeeded and op.output_dir:
            manifest_item.files = _keep(op, ledger, item.index, gid, outcome)
        result.append(manifest_item)
    return result


def _keep(
    op: ImageToVideoBatchOperator, ledger: BatchLedger, index: int, gid: str, outcome: dict[str, Any]
) -> list[dict[str, Any]]:
    from airflow_provider_i2v.outputs import keep

    return keep(
        list(outcome.get("output_urls") or outcome.get("video_urls") or []),
        op.output_dir,
        gid,
        op.hook.get_settings(),
        known=ledger.entry(index).files,
        remember=lambda records: ledger.record_files(index, records),
    )


def finish_batch(
    op: ImageToVideoBatchOperator,
    context: Context,
    items: list[BatchItem],
    ledger: BatchLedger,
    wait: BatchWait,
) -> tuple[dict[str, Any], str | None]:
    """The return value, and why the task fails (``None``: it succeeds)."""
    from airflow_provider_i2v.assets import emit_batch_asset_events

    manifest = manifest_items(op, items, ledger, wait)
    uri = write_manifest(manifest, op.output_dir) if op.output_dir else None
    value = xcom_value(manifest, uri, op.max_inline_items)
    if uri is not None:
        context["ti"].xcom_push(key=XCOM_MANIFEST_URI, value=uri)
    emit_batch_asset_events(list(op.outlets), context, manifest, value)
    summary = totals(manifest)
    op.log.info(
        "Batch finished: %d of %d succeeded (%s); total cost %s USD%s",
        summary["succeeded"],
        summary["items"],
        ", ".join(f"{n} {s}" for s, n in summary["statuses"].items()),
        summary["total_cost"],
        f"; manifest {uri}" if uri else "",
    )
    counted = [item for item in manifest if item.status != "invalid"]
    if op.accepts(sum(item.succeeded for item in counted), len(counted)):
        return value, None
    return value, (
        f"{summary['failed']} of {summary['items']} items did not succeed: {failure_summary(manifest)}. "
        "A retry reuses completed items, reconnects to rendering ones and submits only failed ones."
    )
