"""The batch's result: one line per item, plus totals (money as a decimal string).

With ``output_dir`` the manifest is also written there as JSON lines
(``manifest.jsonl``, atomically: a temporary name, then a rename); XCom then holds the
items only while they are few (``max_inline_items``), and always the totals and the
manifest's URI, so a 5,000-item batch does not put megabytes into the metadata database.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from airflow_provider_i2v.generation.keys import XCOM_MANIFEST_URI
from airflow_provider_i2v.generation.record import Status
from airflow_provider_i2v.protocol import cost_of

MANIFEST_NAME = "manifest.jsonl"


@dataclass
class ManifestItem:
    index: int
    image: str
    status: Status
    generation_id: str | None = None
    video_urls: list[str] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    error: dict[str, Any] | None = None
    files: list[dict[str, Any]] | None = None
    uncertain_creates: int = 0

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "image": self.image,
            "generation_id": self.generation_id,
            "status": self.status.value,
            "video_urls": self.video_urls,
            "usage": self.usage,
            "error": self.error,
        }
        if self.files is not None:
            data["video_files"] = [f["uri"] for f in self.files]
            data["files"] = self.files
        if self.uncertain_creates:
            data["uncertain_creates"] = self.uncertain_creates
        return data

    @property
    def succeeded(self) -> bool:
        return self.status is Status.COMPLETED


def totals(items: list[ManifestItem]) -> dict[str, Any]:
    """Counts per outcome and the exact total cost (a decimal string, never a float)."""
    cost = sum((cost_of(item.usage) or Decimal("0") for item in items if item.succeeded), Decimal("0"))
    statuses: dict[str, int] = {}
    for item in items:
        statuses[item.status.value] = statuses.get(item.status.value, 0) + 1
    return {
        "items": len(items),
        "succeeded": sum(item.succeeded for item in items),
        "failed": sum(not item.succeeded for item in items),
        "statuses": dict(sorted(statuses.items())),
        "total_cost": str(cost),
        "uncertain_creates": sum(item.uncertain_creates for item in items),
    }


def write_manifest(items: list[ManifestItem], output_dir: Any) -> str:
    """Write ``manifest.jsonl`` into ``output_dir`` atomically; returns its URI."""
    from airflow_provider_i2v.outputs import as_storage_path

    directory = as_storage_path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / MANIFEST_NAME
    temporary = directory / f".{MANIFEST_NAME}.part-{uuid.uuid4().hex[:8]}"
    try:
        with temporary.open("w") as sink:
            for item in items:
                sink.write(json.dumps(item.to_json(), separators=(",", ":")) + "\n")
        temporary.rename(final)
    except BaseException:
        if temporary.exists():
            temporary.unlink()
        raise
    return str(final)


def xcom_value(items: list[ManifestItem], manifest_uri: str | None, max_inline_items: int) -> dict[str, Any]:
    """The return value: totals and the manifest's URI; the items too while they are few."""
    value: dict[str, Any] = {**totals(items), XCOM_MANIFEST_URI: manifest_uri}
    if manifest_uri is None or len(items) <= max_inline_items:
        value["results"] = [item.to_json() for item in items]
    return value


def failure_summary(items: list[ManifestItem], limit: int = 20) -> str:
    """The failed items and their codes, for the task's error message."""
    failed = [item for item in items if not item.succeeded]
    shown = [
        f"images[{item.index}] {item.status.value}"
        + (f" (code {item.error.get('code')}: {item.error.get('message')})" if item.error else "")
        for item in failed[:limit]
    ]
    more = f"; and {len(failed) - limit} more" if len(failed) > limit else ""
    return "; ".join(shown) + more
