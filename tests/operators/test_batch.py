"""ImageToVideoBatchOperator against the in-process simulator: one task, one trigger, one
manifest, and every item paid for once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VBatchFailedError,
    I2VCreationUnresolvedError,
    I2VInvalidRequestError,
)
from airflow_provider_i2v.generation import record as batch_ledger
from airflow_provider_i2v.operators.i2v import ImageToVideoBatchOperator
from airflow_provider_i2v.simulator import Fault
from airflow_provider_i2v.triggers.batch import I2VBatchTrigger
from tests.conftest import API_KEY, DictStateStore, make_context
from tests.images.factories import image_bytes
from tests.sim_helpers import (
    creations,
    interrupt_once_created,
    record_success,
    requests_received,
    run_trigger,
)


def urls(n: int) -> list[str]:
    return [f"https://images.example.com/p/{i}.jpg" for i in range(n)]


def batch(images: Any, **kwargs: Any) -> ImageToVideoBatchOperator:
    kwargs.setdefault("check_image_url", False)  # example.com is never fetched; URL checks: tests/images
    kwargs.setdefault("poll_interval", 0.05)
    return ImageToVideoBatchOperator(task_id="videos", images=images, **kwargs)


def run(op: ImageToVideoBatchOperator, context: dict[str, Any]) -> dict[str, Any]:
    """One try as Airflow runs it: execute, the trigger on the triggerer, execute_complete."""
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        [event] = run_trigger(deferred.trigger, timeout=120)
        return op.execute_complete(context, event)


def test_one_task_one_trigger_one_manifest(simulator: Any, i2v_conn: str, tmp_path: Path) -> None:
    photo = tmp_path / "sku.png"
    photo.write_bytes(image_bytes(640, 480))
    images = [*urls(3), str(photo), {"first_frame_image": urls(1)[0], "prompt": "the cat blinks"}]
    context = make_context()
    op = batch(images, prompt="shared prompt")
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, I2VBatchTrigger)
    ids = context["ti"].xcom["generation_ids"]
    assert trigger.generation_ids == ids
    [event] = run_trigger(trigger)
    result = op.execute_complete(context, event)
    assert (result["items"], result["succeeded"], result["failed"]) == (5, 5, 0)
    assert result["total_cost"] == "1.4000"
    assert [item["generation_id"] for item in result["results"]] == ids
    assert creations(simulator) == 5
    prompts = [r.params["prompt"] for r in simulator.requests if r.endpoint == "create"]
    assert sorted(prompts) == ["shared prompt"] * 4 + ["the cat blinks"]


def test_the_trigger_kwargs_hold_ids_only(simulator: Any, i2v_conn: str) -> None:
    with pytest.raises(TaskDeferred) as deferred:
        batch(urls(4)).execute(make_context())
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_i2v.triggers.batch.I2VBatchTrigger"
    text = json.dumps(kwargs)
    assert API_KEY not in text
    assert "images.example.com" not in text
    assert len(text) < 400 + 25 * 4
    assert I2VBatchTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_the_blocking_path_gives_the_same_result(simulator: Any, i2v_conn: str) -> None:
    result = batch(urls(3), deferrable=False).execute(make_context())
    assert (result["succeeded"], result["total_cost"]) == (3, "0.8400")
    assert creations(simulator) == 3


def test_every_item_is_checked_before_the_first_create(simulator: Any, i2v_conn: str, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(image_bytes(200, 200))
    with pytest.raises(
        I2VInvalidRequestError, match=r"images\[2\]: first_frame_image: .*short side"
    ) as error:
        batch([*urls(2), str(tiny), *urls(2)]).execute(make_context())
    assert isinstance(error.value, AirflowFailException)
    assert requests_received(simulator) == 0


def test_invalid_items_can_be_reported_and_skipped(simulator: Any, i2v_conn: str, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(image_bytes(200, 200))
    result = run(batch([urls(1)[0], str(tiny)], on_invalid="skip"), make_context())
    assert [item["status"] for item in result["results"]] == ["completed", "invalid"]
    assert "short side" in result["results"][1]["error"]["message"]
    assert creations(simulator) == 1


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"prompt": "no image"}, r"images\[0\]: 'first_frame_image' is required"),
        (
            {"first_frame_image": "https://x.example/a.jpg", "size": 3},
            r"images\[0\]: unknown keys \['size'\]",
        ),
        ({"first_frame_image": "https://x.example/a.jpg", "duration": 10}, r"images\[0\]: duration: 10"),
    ],
)
def test_bad_per_item_parameters_are_named(simulator: Any, i2v_conn: str, item: Any, message: str) -> None:
    with pytest.raises(I2VInvalidRequestError, match=message):
        batch([item]).execute(make_context())
    assert requests_received(simulator) == 0


def test_a_retry_reuses_completed_items_and_resubmits_only_failed_ones(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(fail_rate=0.5, seed=3)
    store = DictStateStore()
    with pytest.raises(I2VBatchFailedError, match=r"images\[\d+\] failed \(code 0100060") as failed:
        run(batch(urls(8)), make_context(store))
    first = creations(simulator)
    failed_items = failed.value.message.count(" failed (code")
    assert 0 < failed_items < 8
    simulator.configure(fail_rate=0.0)
    retry = make_context(store)
    op = batch(urls(8))
    result = run(op, retry)
    assert result["succeeded"] == 8
    assert creations(simulator) == first + failed_items  # completed ones reused, not paid again
    record_success(op, retry)  # no callback of the provider's forgets what was paid for
    cleared = run(batch(urls(8)), make_context(store))  # a clear of the succeeded run
    assert cleared["succeeded"] == 8
    assert creations(simulator) == first + failed_items  # delivered items are reused, not paid again
    assert [r["generation_id"] for r in cleared["results"]] == [r["generation_id"] for r in result["results"]]


def test_a_retry_reconnects_to_rendering_items(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=1.0)
    store = DictStateStore()
    with pytest.raises(TaskDeferred):
        batch(urls(6)).execute(make_context(store))  # submitted, then the worker dies
    result = run(batch(urls(6)), make_context(store))
    assert result["succeeded"] == 6
    assert creations(simulator) == 6


def test_an_interruption_mid_submission_pays_again_only_for_creates_on_the_wire(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # The first two creates are created and then held (their answers never arrive in time).
    simulator.configure(slow_seconds=5, faults=[Fault("slow", scope="create", first_n=2)])
    store = DictStateStore()
    # Interrupted 0.3 s after the second creation: time enough to see that no third is sent.
    with (
        pytest.raises(KeyboardInterrupt),
        interrupt_once_created(simulator, KeyboardInterrupt, count=2, settle=0.3),
    ):
        batch(urls(6), max_in_flight=2).execute(make_context(store))
    submitted = creations(simulator)
    assert submitted == 2  # nothing else was sent while both slots were held
    simulator.configure(faults=[])
    result = run(batch(urls(6), max_in_flight=2), make_context(store))
    assert result["succeeded"] == 6
    assert creations(simulator) == 2 + 6  # the two held creates' outcomes were unknown
    assert result["uncertain_creates"] == 2
    assert "has an unknown outcome: a generation may exist" in "".join(capfd.readouterr())


def test_with_on_uncertain_create_fail_nothing_is_paid_again(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(faults=[Fault("lost_create_answer", scope="create", first_n=1)])
    store = DictStateStore()
    with pytest.raises(I2VBatchFailedError, match="uncertain"):
        run(batch(urls(3), max_in_flight=1, on_uncertain_create="fail"), make_context(store))
    with pytest.raises(I2VCreationUnresolvedError, match=r"images\[0\]"):
        batch(urls(3), on_uncertain_create="fail").execute(make_context(store))
    assert creations(simulator) == 3


def test_a_refused_key_stops_the_batch_at_once(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(api_keys=["another-key"])
    with pytest.raises(I2VAuthenticationError):
        batch(urls(50), max_in_flight=4).execute(make_context())
    assert len([r for r in simulator.requests if r.endpoint == "create"]) <= 4
    assert creations(simulator) == 0


@pytest.mark.parametrize(
    ("options", "succeeds"),
    [
        ({}, False),
        ({"allow_failures": True}, True),
        ({"min_success": 2}, True),
        ({"min_success": 0.9}, False),
    ],
)
def test_partial_failure_options(
    simulator: Any, i2v_conn: str, options: dict[str, Any], succeeds: bool
) -> None:
    simulator.configure(fail_rate=0.3, seed=5)
    op = batch(urls(6), **options)
    if succeeds:
        result = run(op, make_context())
        assert 0 < result["failed"] < 6
    else:
        with pytest.raises(I2VBatchFailedError, match="did not succeed"):
            run(op, make_context())


def test_manifest_and_videos_in_output_dir(simulator: Any, i2v_conn: str, tmp_path: Path) -> None:
    context = make_context()
    result = run(batch(urls(5), output_dir=str(tmp_path), max_inline_items=2), context)
    assert "results" not in result  # more items than max_inline_items: the manifest's URI only
    manifest = Path(result["manifest_uri"].removeprefix("file://"))
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert [line["index"] for line in lines] == list(range(5))
    assert sorted(line["generation_id"] for line in lines) == sorted(simulator.generation_ids)
    for line in lines:
        [uri] = line["video_files"]
        assert Path(uri.removeprefix("file://")).stat().st_size == line["files"][0]["size"]
    assert context["ti"].xcom["manifest_uri"] == result["manifest_uri"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # nothing partial


def test_item_entries_are_chunked_in_the_state_store(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_ledger, "CHUNK_ITEMS", 2)
    store = DictStateStore()
    with pytest.raises(TaskDeferred):
        batch(urls(5)).execute(make_context(store))
    assert sorted(k for k in store.rows if k != "i2v_batch/notes") == [
        "i2v_batch/0",
        "i2v_batch/1",
        "i2v_batch/2",
    ]
    ids = {
        entry["generation_id"]
        for k, v in store.rows.items()
        if k != "i2v_batch/notes"
        for entry in json.loads(v).values()
    }
    assert ids == set(simulator.generation_ids)


def test_one_items_failed_copy_is_that_items_failure_and_a_clear_collects_it(
    simulator: Any, i2v_conn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_i2v import outputs

    original = outputs.copy_outputs
    broken: list[str] = []

    def copy_outputs(urls: Any, output_dir: Any, generation_id: str, *args: Any, **kwargs: Any) -> Any:
        if not broken:
            broken.append(generation_id)
            raise OSError("disk full")
        return original(urls, output_dir, generation_id, *args, **kwargs)

    monkeypatch.setattr(outputs, "copy_outputs", copy_outputs)
    store = DictStateStore()
    result = run(batch(urls(3), output_dir=str(tmp_path), allow_failures=True), make_context(store))
    lines = {item["generation_id"]: item for item in result["results"]}
    assert lines[broken[0]]["status"] == "failed"
    assert lines[broken[0]]["error"]["code"] == "output_copy_failed"
    assert result["succeeded"] == 2  # the others went on
    cleared = run(batch(urls(3), output_dir=str(tmp_path)), make_context(store))  # a clear
    assert cleared["succeeded"] == 3
    assert creations(simulator) == 3  # the clear collected it without paying again
