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

# dag.test() on a migrated metadata database (``airflow db migrate`` in a subprocess): the
# end-to-end tier, beside the same DAGs on a running Airflow in tests/e2e.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

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
    airflow_db: None, i2v_simulator: Any, i2v_default_connection: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_i2v.simulator import sample_url
    from dev.airflow_stack.logs import console_error_lines

    # The URL item is checked before paying: a sample image the simulator serves on loopback.
    conf = {"image_url": sample_url(i2v_simulator.url)}
    run = example_dag("i2v_product_videos", "i2v_product_videos").test(run_conf=conf)
    assert run.state == "success"
    errors = console_error_lines("".join(capfd.readouterr()))
    assert not errors, "\n".join(errors)  # a successful run logs nothing at error level
    sim = i2v_simulator.simulator
    assert sim.creations == 3  # one paid generation per image, none twice
    creates = [r for r in sim.requests if r.endpoint == "create"]
    assert sorted(r.params["first_frame_image"][:5] for r in creates) == ["data:", "data:", "http:"]


def test_the_folder_fan_out_keeps_every_video_and_reports_failures_and_cost(
    airflow_db: None, i2v_simulator: Any, i2v_default_connection: str, tmp_path: Path
) -> None:
    from tests.images.factories import image_bytes

    photos, videos = tmp_path / "photos", tmp_path / "videos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.jpg"):
        (photos / name).write_bytes(image_bytes(640, 480, "JPEG" if name.endswith("jpg") else "PNG"))
    (photos / "tiny.png").write_bytes(image_bytes(200, 200))  # short side <= 300 px: refused, free
    (photos / "notes.txt").write_text("not an image")
    dag = example_dag("i2v_folder_videos", "i2v_folder_videos")
    run = dag.test(run_conf={"images": photos.as_uri(), "output_dir": videos.as_uri()})
    summary = run.get_task_instance("summary").xcom_pull(task_ids="summary")
    assert (summary["succeeded"], summary["failed"]) == (3, 1)
    [failure] = summary["failures"]
    assert failure["image"].endswith("tiny.png")
    assert "short side" in failure["reason"]
    assert summary["total_cost"] == "0.8400"
    assert i2v_simulator.simulator.creations == 3  # the refused image cost nothing
    kept = sorted(p.name for p in videos.rglob("*.mp4"))
    assert len(kept) == 3
    assert sorted(uri.rsplit("/", 1)[1] for uri in summary["video_files"]) == kept
