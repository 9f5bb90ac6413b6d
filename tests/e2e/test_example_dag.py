"""The example DAGs on real Airflow components against the simulator: the core loop.

Asserts what a user relies on: every mapped ``generate`` task of ``i2v_product_videos``
defers (no worker slot held) while the simulator reports its generation running, the run
succeeds, XCom holds the documented result dict and keys, ``report`` sums the cost
exactly, and the simulator saw exactly one creation per image; the stored videos' asset
events then run ``i2v_published_videos``, which publishes exactly those videos (an event
Airflow registers while it creates the downstream run waits for the next event on the
asset: the test then sends one). Neither run logs a line at error level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_i2v.protocol import GenerationStatus
from airflow_provider_i2v.simulator import sample_url
from dev.airflow_stack import AirflowStack, wait_until

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "i2v_product_videos"
PUBLISHED_DAG_ID = "i2v_published_videos"
SIM_KEY = "e2e-test-key"


def test_example_dag_end_to_end(
    airflow_stack: AirflowStack,
    write_dag: Callable[[str, str], Path],
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    i2v_connection: str,
    tmp_path: Path,
) -> None:
    e2e_simulator.configure(generation_seconds=8)
    write_dag(DAG_ID, (REPO / "example_dags" / "i2v_product_videos.py").read_text())
    write_dag(PUBLISHED_DAG_ID, (REPO / "example_dags" / "i2v_published_videos.py").read_text())
    api = airflow_stack.client
    api.wait_for_dag(DAG_ID, timeout=120)
    api.wait_for_dag(PUBLISHED_DAG_ID, timeout=120)
    api.unpause(PUBLISHED_DAG_ID)
    api.unpause(DAG_ID)
    image_url = sample_url(e2e_simulator_server.url)  # checked before paying, on loopback
    run_id = api.trigger(DAG_ID, conf={"output_dir": str(tmp_path), "image_url": image_url})["dag_run_id"]

    def deferred_while_rendering() -> list[str] | None:
        tis = [t for t in api.task_instances(DAG_ID, run_id) if t["task_id"] == "generate"]
        if any(t["state"] in ("failed", "upstream_failed") for t in tis):
            raise AssertionError(api.describe_failures(DAG_ID, run_id))
        deferred = [t for t in tis if t["state"] == "deferred"]
        now = e2e_simulator.clock()
        running = [g for g in e2e_simulator.generations if g.phase(now) is GenerationStatus.RUNNING]
        return [str(t["map_index"]) for t in deferred] if deferred and running else None

    deferred = wait_until(
        deferred_while_rendering, timeout=120, interval=0.25, description="a generate task deferred"
    )
    assert deferred  # the worker slot was released while the simulator rendered

    run = api.wait_for_run(DAG_ID, run_id, timeout=240, interval=1.0)
    assert run["state"] == "success", api.describe_failures(DAG_ID, run_id)

    results = [api.xcom(DAG_ID, run_id, "generate", map_index=i) for i in range(3)]
    for index, result in enumerate(results):
        assert set(result) == {
            "generation_id",
            "model",
            "status",
            "video_urls",
            "usage",
            "metadata",
            "uncertain_creates",
            "video_files",  # the example keeps its videos (output_dir)
            "files",
        }
        assert result["uncertain_creates"] == 0
        [file] = result["files"]
        kept = Path(file["uri"].removeprefix("file://"))
        assert kept.parent.parent == tmp_path  # output_dir/<run id>/<generation id>.mp4
        assert kept.name == f"{result['generation_id']}.mp4"
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == file["sha256"]
        assert result["status"] == "completed"
        assert result["model"] == "minimax_i2v_01_live"
        assert result["usage"] == {"cost": "0.2800", "discount": 0}
        assert result["video_urls"] == [
            f"{e2e_simulator_url(airflow_stack)}/files/{result['generation_id']}.mp4"
        ]
        assert api.xcom(DAG_ID, run_id, "generate", "generation_id", index) == result["generation_id"]
        assert api.xcom(DAG_ID, run_id, "generate", "video_urls", index) == result["video_urls"]
        assert api.xcom(DAG_ID, run_id, "generate", "usage", index) == result["usage"]
        assert api.xcom(DAG_ID, run_id, "generate", "_link_I2VVideoLink", index) == result["video_urls"][0]

    report = api.xcom(DAG_ID, run_id, "report")
    assert report == {
        "video_urls": [url for r in results for url in r["video_urls"]],
        "video_files": [f["uri"] for r in results for f in r["files"]],
        "files": [f for r in results for f in r["files"]],
        "total_cost": "0.8400",
        "videos": 3,
    }
    events = api.paged("assets/events", "asset_events", {"source_dag_id": DAG_ID, "source_run_id": run_id})
    assert sorted(e["extra"]["generation_id"] for e in events) == sorted(r["generation_id"] for r in results)
    # Exactly one paid creation per image, and each of the three input kinds arrived right.
    assert e2e_simulator.creations == 3
    creates = [r for r in e2e_simulator.requests if r.endpoint == "create"]
    images = sorted(r.params["first_frame_image"].split(",")[0] for r in creates)
    assert images == [
        "data:image/jpeg;base64",  # the inline data URL, re-encoded after checking
        "data:image/png;base64",  # the local file, read and sent as a data URL
        image_url,  # the URL, checked from its first bytes, then passed through
    ]
    assert {r.generation_id for r in e2e_simulator.requests if r.endpoint == "poll"} == {
        r["generation_id"] for r in results
    }
    errors = airflow_stack.run_error_lines(DAG_ID, run_id)
    assert not errors, "\n".join(errors)

    # The asset events (one per stored video) start the downstream example, once or more:
    # a run takes the events registered when Airflow creates it. Each run succeeds, logs
    # nothing at error level, and publishes videos of this run only, none twice.
    def publish_of(run: dict[str, Any]) -> list[str]:
        rows = api.xcom(PUBLISHED_DAG_ID, run["dag_run_id"], "publish")
        return [p["generation_id"] for p in rows if p.get("generation_id")]

    def settled_runs(at_least: int = 1) -> Callable[[], list[dict[str, Any]] | None]:
        def runs() -> list[dict[str, Any]] | None:
            found = api.paged(f"dags/{PUBLISHED_DAG_ID}/dagRuns", "dag_runs")
            done = len(found) >= at_least and all(r["state"] in ("success", "failed") for r in found)
            return found if done else None

        return runs

    downstream = wait_until(
        settled_runs(), timeout=120, interval=1.0, description="i2v_published_videos runs"
    )
    published: list[str] = []
    for run in downstream:
        assert run["state"] == "success", api.describe_failures(PUBLISHED_DAG_ID, run["dag_run_id"])
        published += publish_of(run)
        errors = airflow_stack.run_error_lines(PUBLISHED_DAG_ID, run["dag_run_id"])
        assert not errors, "\n".join(errors)
    assert len(set(published)) == len(published)
    expected = {r["generation_id"] for r in results}
    missing = expected - set(published)
    assert set(published) <= expected
    if missing:
        # Airflow 3.3 drops the queue entry of an event registered while it creates the
        # downstream run (the mapped tasks finish within milliseconds of each other): the
        # event is kept, and waits for the next event on the asset. It must be that case,
        # and the next event's run must publish it.
        last_created = max(datetime.fromisoformat(r["run_after"]) for r in downstream)
        late = {e["extra"]["generation_id"]: datetime.fromisoformat(e["timestamp"]) for e in events}
        assert all(late[g] > last_created for g in missing), (late, downstream)
        asset_id = events[0]["asset_id"]
        api.request("POST", "assets/events", json_body={"asset_id": asset_id, "extra": {"note": "next"}})
        after = wait_until(
            settled_runs(len(downstream) + 1), timeout=120, interval=1.0, description="the next published run"
        )
        later = [r for r in after if r["dag_run_id"] not in {d["dag_run_id"] for d in downstream}]
        assert all(r["state"] == "success" for r in later), later
        assert {g for r in later for g in publish_of(r)} == missing
    print(
        f"\nassets: {len(expected)} videos published by {len(downstream)} run(s), {len(missing)} by the next"
    )


def e2e_simulator_url(stack: AirflowStack) -> str:
    connection = stack.client.get_json("connections/i2v_default")
    return str(connection["host"]).rstrip("/")


@pytest.fixture(autouse=True)
def _no_env_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stack reads i2v_default from its database (set by the i2v_connection fixture).
    monkeypatch.delenv("AIRFLOW_CONN_I2V_DEFAULT", raising=False)
