"""Fan out over a folder (or an object-storage prefix) of product photos: one video each.

``list_images`` lists ``params.images`` through Airflow's ``ObjectStoragePath`` (a local
folder, ``file://``, ``s3://bucket/prefix`` ... any fsspec protocol), and ``generate`` is
mapped over what it finds. Every mapped task runs in the ``i2v_generations`` pool: create
it with ``include_deferred`` so that deferred tasks, whose generations are rendering,
hold their slot, and the pool caps the generations live at once (the gateway's rate
limit is per account, across every worker and triggerer)::

    airflow pools set i2v_generations 20 "live Vtrix generations" --include-deferred

Each video is copied into ``params.output_dir`` under the run's id. ``summary`` runs
whatever happened (``all_done``) and reports successes, failures with their reasons,
the total cost (``Decimal``, never float) and where the videos are.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from airflow.sdk import AssetAlias, ObjectStoragePath, dag, task

from airflow_provider_i2v.operators.i2v import ImageToVideoOperator

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
#: One asset event per stored video, on an asset named by the video's URI.
VIDEO_FILES = AssetAlias("i2v_video_files")
POOL = "i2v_generations"


@dag(
    dag_id="i2v_folder_videos",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["i2v", "example"],
    params={"images": "file:///data/product-photos", "output_dir": "file:///data/product-videos"},
    doc_md=__doc__,
    max_active_tasks=64,
)
def i2v_folder_videos() -> None:
    @task
    def list_images(params: dict[str, Any] | None = None) -> list[str]:
        """Every image under ``params.images``, sorted (the map index is stable across runs)."""
        folder = ObjectStoragePath((params or {})["images"])
        found = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        print(f"{len(found)} images under {folder}")
        return found

    images = list_images()
    generate = ImageToVideoOperator.partial(
        task_id="generate",
        prompt="The product turns slowly on a studio table, soft light",
        pool=POOL,
        poll_interval=5,
        retries=2,
        output_dir="{{ params.output_dir }}/{{ run_id | replace(':', '_') }}",
        outlets=[VIDEO_FILES],
    ).expand(first_frame_image=images)

    @task(trigger_rule="all_done")
    def summary(images: list[str], ti: Any = None, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Successes, failures with their reasons, total cost, and where the videos are."""
        succeeded: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for index, image in enumerate(images):
            result = ti.xcom_pull(task_ids="generate", map_indexes=index)
            if result:
                succeeded.append({"image": image, **result})
                continue
            error = ti.xcom_pull(task_ids="generate", key="error", map_indexes=index) or {}
            failed.append({"image": image, "reason": error.get("message", "no result"), **error})
        total = sum((Decimal(str(r["usage"].get("cost") or "0")) for r in succeeded), Decimal("0"))
        where = f"{(params or {}).get('output_dir')}/{str(ti.run_id).replace(':', '_')}"
        print(f"{len(succeeded)} videos, {len(failed)} failed, total cost {total} USD, kept in {where}")
        for failure in failed:
            print(f"  FAILED {failure['image']}: {failure['reason']} (code {failure.get('code')})")
        return {
            "succeeded": len(succeeded),
            "failed": len(failed),
            "total_cost": str(total),
            "output_dir": where,
            "video_files": [uri for r in succeeded for uri in r.get("video_files", [])],
            "failures": [{"image": f["image"], "reason": f["reason"], "code": f.get("code")} for f in failed],
        }

    generate >> summary(images)  # after every generate task instance, whatever its state


i2v_folder_videos()
