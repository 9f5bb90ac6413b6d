"""The example DAGs run offline with ``dag.test()`` and the provider's own pytest plugin
(``i2v_simulator``, ``i2v_default_connection``): what docs/testing.md shows users."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "example_dags"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """``airflow db migrate`` once, in the test session's AIRFLOW_HOME (dag.test() needs it)."""
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "db", "migrate"], env=dict(os.environ), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def example_dag(module: str, factory: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"example_{module}", EXAMPLES / f"{module}.py")
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return getattr(loaded, factory)()


def test_the_product_videos_dag_runs_offline(
    airflow_db: None, i2v_simulator: Any, i2v_default_connection: str
) -> None:
    run = example_dag("i2v_product_videos", "i2v_product_videos").test()
    assert run.state == "success"
    sim = i2v_simulator.simulator
    assert sim.creations == 3  # one paid generation per image, none twice
    creates = [r for r in sim.requests if r.endpoint == "create"]
    assert sorted(r.params["first_frame_image"][:5] for r in creates) == ["data:", "data:", "https"]


def test_the_folder_fan_out_keeps_every_video_and_bad_images_cost_nothing(
    airflow_db: None, i2v_simulator: Any, i2v_default_connection: str, tmp_path: Path
) -> None:
    """The summary task is checked on real Airflow (tests/e2e/test_fan_out.py): dag.test()'s
    own loop may run an ``all_done`` task before every mapped upstream has run."""
    from tests.images.factories import image_bytes

    photos, videos = tmp_path / "photos", tmp_path / "videos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.jpg"):
        (photos / name).write_bytes(image_bytes(640, 480, "JPEG" if name.endswith("jpg") else "PNG"))
    (photos / "tiny.png").write_bytes(image_bytes(200, 200))  # short side <= 300 px: refused, free
    (photos / "notes.txt").write_text("not an image")
    dag = example_dag("i2v_folder_videos", "i2v_folder_videos")
    run = dag.test(run_conf={"images": photos.as_uri(), "output_dir": videos.as_uri()})
    tis = {ti.map_index: ti for ti in run.get_task_instances() if ti.task_id == "generate"}
    assert [tis[i].state for i in range(4)] == ["success", "success", "success", "failed"]
    assert i2v_simulator.simulator.creations == 3  # the refused image cost nothing
    error = tis[3].xcom_pull(task_ids="generate", key="error", map_indexes=3)
    assert error["error_class"] == "I2VInvalidRequestError"
    assert "short side" in error["message"]
    kept = sorted(p.name for p in videos.rglob("*.mp4"))
    results = [tis[i].xcom_pull(task_ids="generate", map_indexes=i) for i in range(3)]
    assert kept == sorted(f"{r['generation_id']}.mp4" for r in results)
