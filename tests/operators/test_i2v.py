"""ImageToVideoOperator against the in-process simulator, over real HTTP.

The only fakes are the edges of the task runtime (a TI recording XCom pushes and a
dict-backed ``task_state_store``); submission, polling and the trigger are real.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VError,
    I2VGenerationFailedError,
    I2VInvalidRequestError,
    I2VTimeoutError,
)
from airflow_provider_i2v.generation.record import STATE_KEY
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
from airflow_provider_i2v.testing import SIMULATOR_EXTRAS
from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger
from tests.conftest import API_KEY, DictStateStore, make_context
from tests.sim_helpers import creations, record_success, requests_received, run_trigger

IMAGE_URL = "https://images.example.com/cat.jpg"


def operator(**kwargs: Any) -> ImageToVideoOperator:
    kwargs.setdefault("check_image_url", False)  # example.com is never fetched; URL checks: tests/images
    kwargs.setdefault("first_frame_image", IMAGE_URL)
    kwargs.setdefault("poll_interval", 0.1)
    return ImageToVideoOperator(task_id="generate", **kwargs)


def run_deferrable(op: ImageToVideoOperator, context: dict[str, Any]) -> Any:
    """execute -> defer -> real trigger run -> execute_complete, as the triggerer would."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, I2VTaskTrigger)
    assert deferred.value.method_name == "execute_complete"
    [event] = run_trigger(trigger)
    return op.execute_complete(context, event)


def assert_result_shape(result: dict[str, Any], context: dict[str, Any]) -> None:
    assert result["status"] == "completed"
    assert result["model"] == "minimax_i2v_01_live"
    assert len(result["generation_id"]) == 20
    assert result["video_urls"]
    assert all(u.endswith(".mp4") for u in result["video_urls"])
    assert result["usage"]["cost"] == "0.2800"
    assert "completed_at" in result["metadata"]
    xcom = context["ti"].xcom
    assert xcom["generation_id"] == result["generation_id"]
    assert xcom["video_urls"] == result["video_urls"]
    assert xcom["usage"] == result["usage"]
    json.dumps(result)  # XCom-able


def test_deferrable_happy_path(simulator: Any, i2v_conn: str) -> None:
    context = make_context()
    op = operator(prompt="the cat blinks")
    result = run_deferrable(op, context)
    assert_result_shape(result, context)
    assert creations(simulator) == 1
    record_success(op, context)  # no callback of the provider's deletes anything
    record = context["task_state_store"].get(STATE_KEY)
    assert record["generation_id"] == result["generation_id"]
    assert record["status"] == "completed"
    assert record["cost"] == "0.2800"
    assert record["video_urls"] == result["video_urls"]


def test_generation_id_pushed_and_stored_before_deferring(simulator: Any, i2v_conn: str) -> None:
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        operator().execute(context)
    generation_id = context["ti"].xcom["generation_id"]
    assert context["task_state_store"].get(STATE_KEY)["generation_id"] == generation_id
    classpath, kwargs = deferred.value.trigger.serialize()
    assert classpath == "airflow_provider_i2v.triggers.i2v.I2VTaskTrigger"
    assert kwargs["generation_id"] == generation_id
    assert set(kwargs) == {
        "generation_id",
        "i2v_conn_id",
        "poll_interval",
        "max_poll_interval",
        "adaptive_polling",
        "model",
        "deadline",
        "started_at",
    }
    assert API_KEY not in json.dumps(kwargs)
    assert IMAGE_URL not in json.dumps(kwargs)


def test_blocking_path_same_result(simulator: Any, i2v_conn: str) -> None:
    context = make_context()
    result = operator(deferrable=False).execute(context)
    assert_result_shape(result, context)
    assert creations(simulator) == 1


def test_bad_fixed_parameter_fails_at_parse_time() -> None:
    with pytest.raises(I2VInvalidRequestError, match=r"duration: 10 .*\[6\]"):
        operator(duration=10)
    with pytest.raises(I2VInvalidRequestError, match="resolution: '1080P'"):
        operator(resolution="1080P")
    with pytest.raises(I2VInvalidRequestError, match="model: 'sora'"):
        operator(model="sora")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": "x" * 2001}, "prompt: 2001 characters is over the limit of 2000"),
        ({"callback_url": "ftp://hooks.example.com"}, "callback_url: 'ftp://hooks.example.com'"),
        ({"first_frame_image": "not-a-file.png"}, "first_frame_image"),
    ],
)
def test_bad_rendered_input_costs_nothing(
    simulator: Any, i2v_conn: str, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(I2VInvalidRequestError, match=message) as error:
        operator(**kwargs).execute(make_context())
    assert isinstance(error.value, AirflowFailException)  # fails without burning retries
    assert requests_received(simulator) == 0


def test_failed_generation_carries_code_message_and_id(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(fail_code="010006097")
    context = make_context()
    with pytest.raises(I2VGenerationFailedError) as error:
        operator(deferrable=False).execute(context)
    assert error.value.code == "010006097"
    assert error.value.generation_id == context["ti"].xcom["generation_id"]
    assert "HTTP error response" in str(error.value)
    assert not isinstance(error.value, AirflowFailException)  # Airflow may retry: a new generation


def test_failed_generation_deferrable_path(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(fail_code="010006095")
    with pytest.raises(I2VGenerationFailedError) as error:
        run_deferrable(operator(), make_context())
    assert error.value.code == "010006095"


def test_bad_key_fails_without_retries(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(api_keys=["another-key"])
    with pytest.raises(I2VAuthenticationError) as error:
        operator().execute(make_context())
    assert isinstance(error.value, AirflowFailException)
    assert API_KEY not in str(error.value)
    assert creations(simulator) == 0


def test_retry_reconnects_to_running_generation(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=0.3)  # still rendering when the first try defers
    store = DictStateStore()
    with pytest.raises(TaskDeferred):
        operator().execute(make_context(store))  # first try: submitted, then the worker "dies"
    retry = make_context(store)
    result = run_deferrable(operator(), retry)  # second try of the same task instance
    assert creations(simulator) == 1
    assert result["generation_id"] == retry["ti"].xcom["generation_id"]


def test_retry_reuses_completed_generation(simulator: Any, i2v_conn: str) -> None:
    store = DictStateStore()
    with pytest.raises(TaskDeferred):
        operator().execute(make_context(store))
    first_id = store.get(STATE_KEY)["generation_id"]
    [event] = run_trigger(I2VTaskTrigger(generation_id=first_id, i2v_conn_id=i2v_conn, poll_interval=0.1))
    assert event["status"] == "completed"
    retry = make_context(store)
    op = operator()
    result = op.execute(retry)  # no deferral: the result is already there
    assert result["generation_id"] == first_id
    assert creations(simulator) == 1


def test_retry_after_failure_submits_anew(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(fail_code="010006099")
    store = DictStateStore()
    with pytest.raises(I2VGenerationFailedError) as failed:
        operator(deferrable=False).execute(make_context(store))
    simulator.configure(fail_code=None)
    result = operator(deferrable=False).execute(make_context(store))
    assert creations(simulator) == 2
    assert result["generation_id"] != failed.value.generation_id


def test_a_clear_after_success_reuses_the_paid_result_of_an_unchanged_request(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    store = DictStateStore()
    op, context = operator(deferrable=False), make_context(store)
    first = op.execute(context)
    record_success(op, context)  # Airflow recorded the success; then a user clears the run
    polls = simulator.stats()["polls"]
    second = operator(deferrable=False).execute(make_context(store))
    assert second["generation_id"] == first["generation_id"]
    assert second["video_urls"] == first["video_urls"]
    assert creations(simulator) == 1
    assert simulator.stats()["polls"] == polls  # delivered: the record answers, nobody is asked
    assert "was delivered earlier; reusing its recorded result" in "".join(capfd.readouterr())


def test_a_clear_after_a_rejected_success_report_pays_nothing(simulator: Any, i2v_conn: str) -> None:
    """The Task SDK runs success callbacks even when the server refused the success (a 409);
    nothing the provider installs may forget the paid generation then."""
    store = DictStateStore()
    op, context = operator(deferrable=False), make_context(store)
    first = op.execute(context)
    assert not [cb for cb in op.on_success_callback or [] if "i2v" in getattr(cb, "__module__", "")]
    record_success(op, context)  # runs even though the server rejected the success
    second = operator(deferrable=False).execute(make_context(store))  # the next try
    assert second["generation_id"] == first["generation_id"]
    assert creations(simulator) == 1


def test_a_changed_request_is_not_reused_and_the_log_says_why(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    store = DictStateStore()
    first = operator(deferrable=False).execute(make_context(store))
    other = operator(deferrable=False, first_frame_image="https://images.example.com/dog.jpg")
    second = other.execute(make_context(store))  # a mapped index shifted, or the image changed
    assert second["generation_id"] != first["generation_id"]
    assert creations(simulator) == 2
    assert "was made for another request" in "".join(capfd.readouterr())
    third = operator(deferrable=False, prompt="new words").execute(make_context(store))
    assert third["generation_id"] not in (first["generation_id"], second["generation_id"])
    assert creations(simulator) == 3


def test_a_new_revision_pays_for_a_new_video_on_purpose(simulator: Any, i2v_conn: str) -> None:
    store = DictStateStore()
    first = operator(deferrable=False, revision="").execute(make_context(store))
    same = operator(deferrable=False, revision=None).execute(make_context(store))
    assert same["generation_id"] == first["generation_id"]
    second = operator(deferrable=False, revision="2").execute(make_context(store))
    assert second["generation_id"] != first["generation_id"]
    again = operator(deferrable=False, revision="2").execute(make_context(store))
    assert again["generation_id"] == second["generation_id"]
    assert creations(simulator) == 2


def test_a_failure_after_the_result_but_before_success_is_recorded_reuses_it(
    simulator: Any, i2v_conn: str
) -> None:
    """The window between building the result and Airflow recording the success (pushing
    return_value, reporting the state, a kill) is safe: the id is still stored."""
    store = DictStateStore()
    first = operator(deferrable=False).execute(make_context(store))  # ...then the try dies
    second = operator(deferrable=False).execute(make_context(store))  # Airflow's retry
    assert second["generation_id"] == first["generation_id"]
    assert creations(simulator) == 1


def test_timeout_names_the_generation_and_keeps_it_stored(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=60)
    store = DictStateStore()
    context = make_context(store)
    with pytest.raises(I2VTimeoutError) as error:
        operator(deferrable=False, generation_timeout=0.3).execute(context)
    generation_id = context["ti"].xcom["generation_id"]
    assert error.value.generation_id == generation_id
    assert store.get(STATE_KEY)["generation_id"] == generation_id


def test_trigger_deadline_yields_timeout_event(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=60)
    context = make_context()
    op = operator(generation_timeout=0.3)
    with pytest.raises(I2VTimeoutError, match=r"generation \w{20}"):
        run_deferrable(op, context)


def test_output_dir_copies_every_file_atomically(simulator: Any, i2v_conn: str, tmp_path: Path) -> None:
    simulator.configure(file_size=300_000)
    result = operator(deferrable=False, output_dir=str(tmp_path / "videos")).execute(make_context())
    [uri] = result["video_files"]
    path = tmp_path / "videos" / f"{result['generation_id']}.mp4"
    assert uri == f"file://{path}"
    assert path.stat().st_size == 300_000
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial files left


def test_rendered_template_view_shows_a_summary_not_image_bytes(simulator: Any, i2v_conn: str) -> None:
    import base64
    import io

    from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), "red").save(buffer, format="PNG")
    payload = base64.b64encode(buffer.getvalue()).decode()
    op = operator(first_frame_image="{{ params.image }}", deferrable=False)
    op.render_template_fields({"params": {"image": f"data:image/png;base64,{payload}"}})
    rendered = _serialize_rendered_fields(op)  # what the worker sends to the UI
    assert payload not in json.dumps(rendered)
    assert rendered["first_frame_image"] == f"data:image/png;base64,<{len(payload)} base64 characters>"
    result = op.execute(make_context())  # the real image still goes to the gateway
    assert result["status"] == "completed"
    [create] = [r for r in simulator.requests if r.endpoint == "create"]
    assert create.params["first_frame_image"].startswith("data:image/png;base64,<")


def test_retry_after_timeout_reconnects_and_waits_again(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=0.8)
    store = DictStateStore()
    with pytest.raises(I2VTimeoutError):
        operator(deferrable=False, generation_timeout=0.6).execute(make_context(store))
    # The retry starts ~0.6 s after submission; its own 0.6 s outlasts the 0.8 s render.
    result = operator(deferrable=False, generation_timeout=0.6).execute(make_context(store))
    assert result["status"] == "completed"
    assert creations(simulator) == 1


def test_output_copy_goes_through_the_connections_proxy(
    simulator: Any, i2v_conn: str, tmp_path: Path
) -> None:
    from airflow_provider_i2v.hooks.settings import ConnectionSettings
    from airflow_provider_i2v.outputs import copy_outputs

    result = operator(deferrable=False).execute(make_context())
    direct = ConnectionSettings.from_connection(None, "k", {"timeout": 2, "allow_private_outputs": True})
    [copied] = copy_outputs(result["video_urls"], tmp_path / "direct", result["generation_id"], direct)
    assert copied.uri.endswith(f"{result['generation_id']}.mp4")
    # The same copy through a proxy that does not answer fails: the proxy setting is used.
    proxied = ConnectionSettings.from_connection(
        None,
        "k",
        {
            "timeout": 2,
            "proxy": "http://127.0.0.1:9",
            "allow_private_outputs": True,
            # The refused connection is retried; the back-off is the simulator's, not the default.
            **{k: v for k, v in SIMULATOR_EXTRAS.items() if k.startswith("backoff_")},
        },
    )
    with pytest.raises(I2VError, match="could not copy"):
        copy_outputs(result["video_urls"], tmp_path / "proxied", result["generation_id"], proxied)
    assert list((tmp_path / "proxied").iterdir()) == []  # nothing partial left behind


def execute_under_timeout(op: ImageToVideoOperator, context: dict[str, Any], seconds: int) -> Any:
    """What Airflow's task runner does with ``execution_timeout``: a SIGALRM, then on_kill."""
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from airflow.sdk.execution_time.timeout import timeout

    try:
        with timeout(seconds):
            return op.execute(context)
    except AirflowTaskTimeout:
        op.on_kill()
        raise


def test_execution_timeout_logs_the_generation_and_keeps_it_for_the_retry(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from airflow.sdk.exceptions import AirflowTaskTimeout

    simulator.configure(generation_seconds=60)
    store = DictStateStore()
    context = make_context(store)
    with pytest.raises(AirflowTaskTimeout):
        execute_under_timeout(operator(deferrable=False), context, 1)
    generation_id = context["ti"].xcom["generation_id"]
    out = "".join(capfd.readouterr())
    assert f"Task stopped while generation {generation_id} was running" in out
    assert store.get(STATE_KEY)["generation_id"] == generation_id


def test_completion_log_tells_urls_cost_and_elapsed_time(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    result = run_deferrable(operator(), make_context())
    out = "".join(capfd.readouterr())
    assert f"Submitted generation {result['generation_id']} (model minimax_i2v_01_live" in out
    assert "First frame: " in out
    assert f"Generation {result['generation_id']} completed in " in out
    assert f"{result['video_urls'][0]}; cost 0.2800 USD" in out


def test_compressed_download_checked_against_bytes_on_the_wire(tmp_path: Path) -> None:
    import gzip

    from airflow_provider_i2v.hooks.settings import ConnectionSettings
    from airflow_provider_i2v.outputs import copy_outputs
    from tests.http_server import plain_server

    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200_000
    server = plain_server(
        200, gzip.compress(video), {"Content-Encoding": "gzip", "Content-Type": "video/mp4"}
    )
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/out/g1.mp4"
        settings = ConnectionSettings.from_connection(
            None, "k", {"timeout": 5, "allow_private_outputs": True}
        )
        [copied] = copy_outputs([url], tmp_path, "g1", settings)
    finally:
        server.shutdown()
    assert (tmp_path / "g1.mp4").read_bytes() == video
    assert copied.uri.endswith("/g1.mp4")
