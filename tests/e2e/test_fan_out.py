"""The fan-out example on real Airflow: a folder of 50+ images, a pool capping live
generations, every video kept on ``file://`` and checked, one asset event per video, and a
summary whose total is what the gateway charged."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dev.airflow_stack import AirflowStack
from tests.images.factories import image_bytes

pytestmark = [pytest.mark.timeout(900), pytest.mark.scale]

IMAGES = 52
SLOTS = 12
REPO = Path(__file__).resolve().parents[2]
DAG_ID = "i2v_folder_videos"


def test_fan_out_over_a_folder_keeps_every_video_and_reports_what_it_cost(
    airflow_stack: AirflowStack,
    write_dag: Callable[..., Path],
    e2e_dags_folder: Path,
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    i2v_connection: str,
    tmp_path: Path,
) -> None:
    e2e_simulator.configure(generation_seconds=4, seed=52)
    photos, videos = tmp_path / "photos", tmp_path / "videos"
    photos.mkdir()
    for index in range(IMAGES):
        (photos / f"sku-{index:03d}.png").write_bytes(image_bytes(480 + index, 360 + index))
    (photos / "tiny.png").write_bytes(image_bytes(200, 200))  # refused before it costs anything
    shutil.copy(REPO / "example_dags" / f"{DAG_ID}.py", e2e_dags_folder / f"{DAG_ID}.py")
    api = airflow_stack.client
    api.create_pool("i2v_generations", SLOTS, include_deferred=True)
    api.wait_for_dag(DAG_ID, timeout=120)
    api.unpause(DAG_ID)
    started = time.monotonic()
    run_id = api.trigger(DAG_ID, conf={"images": photos.as_uri(), "output_dir": videos.as_uri()})[
        "dag_run_id"
    ]
    run = api.wait_for_run(DAG_ID, run_id, timeout=800, interval=2.0)
    wall = time.monotonic() - started
    # The run's state is its leaf's (the all_done summary); the refused image's task failed.
    assert run["state"] == "success", api.describe_failures(DAG_ID, run_id)
    states = sorted(t["state"] for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "generate")
    assert states == ["failed"] + ["success"] * IMAGES
    errors = airflow_stack.run_error_lines(DAG_ID, run_id)  # the refused image's task logs its error
    assert not errors, "\n".join(errors[:20])

    summary = api.xcom(DAG_ID, run_id, "summary")
    assert (summary["succeeded"], summary["failed"]) == (IMAGES, 1), (
        summary["failures"][:3],
        api.describe_failures(DAG_ID, run_id)[:3000],
    )
    [failure] = summary["failures"]
    assert failure["image"].endswith("tiny.png")
    assert "short side" in failure["reason"]
    sim = e2e_simulator
    assert sim.creations == IMAGES  # one generation per good image, none for the bad one
    assert Decimal(summary["total_cost"]) == Decimal("0.2800") * sim.creations  # what the gateway charged

    kept = sorted(p for p in videos.rglob("*") if p.is_file())
    assert not [p for p in kept if p.name.startswith(".")]  # no temporary file left
    assert sorted(p.stem for p in kept) == sorted(sim.generation_ids)
    results = [api.xcom(DAG_ID, run_id, "generate", map_index=i) for i in range(IMAGES + 1) if i != IMAGES]
    served = 0
    for result in results:
        [file] = result["files"]
        data = Path(file["uri"].removeprefix("file://")).read_bytes()
        assert len(data) == file["size"]
        assert hashlib.sha256(data).hexdigest() == file["sha256"]
        served += len(data)

    events = api.paged("assets/events", "asset_events", {"source_dag_id": DAG_ID, "source_run_id": run_id})
    assert len(events) == IMAGES  # one event per stored video (the AssetAlias outlet)
    by_uri = {e["extra"]["uri"]: e["extra"] for e in events}
    assert sorted(by_uri) == sorted(f["uri"] for r in results for f in r["files"])
    assert all(extra["sha256"] and extra["generation_id"] for extra in by_uri.values())
    print(
        f"fan-out: {IMAGES} images (+1 refused) in {wall:.0f} s, pool of {SLOTS}, "
        f"{served} bytes kept, {len(kept)} files checksummed, {len(events)} asset events, "
        f"total {summary['total_cost']} USD"
    )
