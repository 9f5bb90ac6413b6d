"""Asset events and OpenLineage facets of a finished generation, from a real run against the
simulator (Airflow's own outlet-event accessors; the OpenLineage provider is installed)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_i2v.exceptions import I2VGenerationFailedError
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
from tests.conftest import make_context

VIDEOS = Asset(name="product_videos", uri="file:///data/videos")
EACH_VIDEO = AssetAlias("i2v_video_files")


@pytest.fixture(autouse=True)
def _instant_renders(request: pytest.FixtureRequest) -> None:
    """What is asserted here is what a finished generation leaves behind, not the wait."""
    if "simulator" in request.fixturenames:
        request.getfixturevalue("simulator").configure(generation_seconds=0)


def run(tmp_path: Path, **kwargs: Any) -> tuple[ImageToVideoOperator, dict[str, Any], dict[str, Any]]:
    op = ImageToVideoOperator(
        check_image_url=False,
        task_id="generate",
        first_frame_image="https://images.example.com/cat.jpg",
        deferrable=False,
        poll_interval=0.05,
        **kwargs,
    )
    context = make_context()
    context["outlet_events"] = OutletEventAccessors()
    return op, context, op.execute(context)


def test_an_asset_outlet_event_names_the_generation_the_file_its_checksum_and_cost(
    simulator: Any, i2v_conn: str, tmp_path: Path
) -> None:
    _, context, result = run(tmp_path, output_dir=str(tmp_path), outlets=[VIDEOS])
    extra = context["outlet_events"][VIDEOS].extra
    [file] = result["files"]
    assert extra["generation_id"] == result["generation_id"]
    assert extra["uri"] == file["uri"] == result["video_files"][0]
    assert (
        extra["sha256"] == hashlib.sha256(Path(file["uri"].removeprefix("file://")).read_bytes()).hexdigest()
    )
    assert extra["cost"] == "0.2800"
    assert extra["size"] == file["size"]


def test_an_asset_alias_gets_one_event_per_stored_video(
    simulator: Any, i2v_conn: str, tmp_path: Path
) -> None:
    _, context, result = run(tmp_path, output_dir=str(tmp_path), outlets=[EACH_VIDEO])
    [event] = context["outlet_events"][EACH_VIDEO].asset_alias_events
    assert event.dest_asset_key.uri == result["video_files"][0]
    assert event.extra["generation_id"] == result["generation_id"]
    assert event.extra["sha256"] == result["files"][0]["sha256"]


def test_without_output_dir_the_event_names_the_links(simulator: Any, i2v_conn: str, tmp_path: Path) -> None:
    _, context, result = run(tmp_path, outlets=[VIDEOS])
    extra = context["outlet_events"][VIDEOS].extra
    assert extra["video_urls"] == result["video_urls"]
    assert "sha256" not in extra


def test_a_failed_generation_pushes_its_error_for_summaries(
    simulator: Any, i2v_conn: str, tmp_path: Path
) -> None:
    simulator.configure(fail_code="010006095")
    op = ImageToVideoOperator(
        check_image_url=False,
        task_id="generate",
        first_frame_image="https://x.example/a.png",
        deferrable=False,
        poll_interval=0.05,
    )
    context = make_context()
    with pytest.raises(I2VGenerationFailedError):
        op.execute(context)
    error = context["ti"].xcom["error"]
    assert error["error_class"] == "I2VGenerationFailedError"
    assert error["code"] == "010006095"
    assert error["generation_id"] == context["ti"].xcom["generation_id"]


def test_openlineage_facets_name_the_first_frame_the_videos_and_the_cost(
    simulator: Any, i2v_conn: str, tmp_path: Path
) -> None:
    image = tmp_path / "sku-1.png"
    from tests.images.factories import image_bytes

    image.write_bytes(image_bytes(640, 480))
    op, _, result = run(tmp_path, output_dir=str(tmp_path / "videos"))
    op.first_frame_image = str(image)  # the same operator, with a local first frame
    lineage = op.get_openlineage_facets_on_complete(task_instance=None)
    [source] = lineage.inputs
    assert (source.namespace, source.name) == ("file", str(image))
    [video] = lineage.outputs
    assert (video.namespace, video.name) == ("file", result["video_files"][0].removeprefix("file://"))
    facet = lineage.run_facets["i2vGeneration"]
    assert (facet.generationId, facet.model, facet.cost) == (
        result["generation_id"],
        result["model"],
        "0.2800",
    )


@pytest.mark.parametrize(
    ("location", "namespace", "name"),
    [
        ("s3://catalogue/photos/a.jpg", "s3://catalogue", "photos/a.jpg"),
        ("https://images.example.com/p/a.jpg", "https://images.example.com", "p/a.jpg"),
        ("file:///data/a.jpg", "file", "/data/a.jpg"),
    ],
)
def test_lineage_dataset_names_follow_openlineage_conventions(
    location: str, namespace: str, name: str
) -> None:
    from airflow_provider_i2v.lineage import dataset

    found = dataset(location)
    assert found is not None
    assert (found.namespace, found.name) == (namespace, name)


def test_an_inline_data_url_is_no_dataset() -> None:
    from airflow_provider_i2v.lineage import dataset

    assert dataset("data:image/png;base64,AAAA") is None
