"""Asset events for the videos a task kept: the next DAG learns that a new video exists.

Airflow emits an event for every ``outlets`` asset of a task that succeeds; this module
fills in what the event says. For an ``Asset`` outlet (one event per task run) the
extra names the generation, its cost and its stored video(s); for an ``AssetAlias``
outlet, one event is added per stored video, on an asset whose URI is the video's, so
a downstream DAG is told about each file on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context


def event_extra(result: dict[str, Any], file: dict[str, Any] | None = None) -> dict[str, Any]:
    """What one asset event says: generation, model, cost, and the stored file (if any)."""
    extra: dict[str, Any] = {
        "generation_id": result["generation_id"],
        "model": result["model"],
        "cost": str(result["usage"].get("cost", "")),
    }
    if file is not None:
        extra.update(uri=file["uri"], sha256=file["sha256"], size=file["size"], source_url=file["source_url"])
    else:
        extra["video_urls"] = list(result["video_urls"])
    return extra


def emit_asset_events(outlets: list[Any], context: Context, result: dict[str, Any]) -> int:
    """Describe the task's outlet events; returns how many events were described."""
    from airflow.sdk import Asset, AssetAlias

    events = context.get("outlet_events")
    if not outlets or events is None:
        return 0
    files: list[dict[str, Any]] = list(result.get("files") or [])
    described = 0
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            for file in files:
                events[outlet].add(Asset(uri=file["uri"]), extra=event_extra(result, file))
                described += 1
        elif isinstance(outlet, Asset):
            extra = event_extra(result, files[0] if files else None)
            if len(files) > 1:
                extra["files"] = [event_extra(result, file) for file in files]
            events[outlet].extra.update(extra)
            described += 1
    return described


def emit_batch_asset_events(
    outlets: list[Any], context: Context, manifest: list[Any], value: dict[str, Any]
) -> int:
    """A batch's events: per stored video on an ``AssetAlias``; one summary per ``Asset``."""
    from airflow.sdk import Asset, AssetAlias

    events = context.get("outlet_events")
    if not outlets or events is None:
        return 0
    described = 0
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            for item in manifest:
                for file in item.files or []:
                    result = {"generation_id": item.generation_id, "model": None, "usage": item.usage}
                    extra = event_extra({**result, "video_urls": item.video_urls}, file)
                    extra.pop("model")
                    events[outlet].add(Asset(uri=file["uri"]), extra={**extra, "index": item.index})
                    described += 1
        elif isinstance(outlet, Asset):
            keys = ("items", "succeeded", "failed", "total_cost", "manifest_uri")
            events[outlet].extra.update({key: value.get(key) for key in keys})
            described += 1
    return described
