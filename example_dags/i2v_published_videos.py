"""Downstream of ``i2v_product_videos``: runs when new product videos were stored.

Scheduled on the ``i2v_product_videos`` asset. Every stored video is one asset event
whose extra names the generation, the file (``uri``), its ``sha256`` and its ``cost``,
so this DAG knows exactly which files are new without listing a folder. A real pipeline
would publish them to a CDN or a product catalogue here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import Asset, dag, task

PRODUCT_VIDEOS = Asset(name="i2v_product_videos")


@dag(
    dag_id="i2v_published_videos",
    schedule=[PRODUCT_VIDEOS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["i2v", "example"],
    doc_md=__doc__,
)
def i2v_published_videos() -> None:
    @task
    def publish(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One line per new video, from the events' extras (no folder listing, no re-hash)."""
        published = []
        for event in (triggering_asset_events or {}).get(PRODUCT_VIDEOS, []):
            extra = dict(event.extra or {})
            print(
                f"new video {extra.get('uri') or extra.get('video_urls')} from generation "
                f"{extra.get('generation_id')} (sha256 {extra.get('sha256')}, {extra.get('cost')} USD)"
            )
            published.append(extra)
        return published

    publish()


i2v_published_videos()
