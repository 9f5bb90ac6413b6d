"""I2VTaskSensor: waits for a generation submitted elsewhere; never submits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_i2v.exceptions import I2VWatchedGenerationFailedError
from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.protocol import GenerationRequest
from airflow_provider_i2v.sensors.i2v import I2VTaskSensor
from tests.conftest import DictStateStore, make_context
from tests.sim_helpers import creations, run_trigger


def submit() -> str:
    return (
        I2VHook()
        .create_generation(GenerationRequest(first_frame_image="https://x.example/a.png"))
        .generation_id
    )


def test_deferrable_sensor_returns_the_operator_result(simulator: Any, i2v_conn: str) -> None:
    generation_id = submit()
    sensor = I2VTaskSensor(task_id="wait", generation_id=generation_id, poll_interval=0.05)
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    [event] = run_trigger(deferred.value.trigger)
    result = sensor.execute_complete(context, event)
    assert result["generation_id"] == generation_id
    assert result["status"] == "completed"
    assert result["video_urls"]
    assert context["ti"].xcom["video_urls"] == result["video_urls"]
    assert creations(simulator) == 1  # only the submission made above


def test_poke_mode_same_result(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=0.0)
    generation_id = submit()
    sensor = I2VTaskSensor(task_id="wait", generation_id=generation_id, deferrable=False)
    result = sensor.poke(make_context())
    assert result.is_done is True
    assert result.xcom_value["generation_id"] == generation_id


def test_poke_not_done_while_running(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=60)
    sensor = I2VTaskSensor(task_id="wait", generation_id=submit(), deferrable=False)
    assert sensor.poke(make_context()) is False


def test_failed_generation_fails_the_sensor_with_its_code_without_retries(
    simulator: Any, i2v_conn: str
) -> None:
    simulator.configure(fail_code="010006096", generation_seconds=0.0)
    sensor = I2VTaskSensor(task_id="wait", generation_id=submit(), deferrable=False)
    with pytest.raises(I2VWatchedGenerationFailedError) as error:
        sensor.poke(make_context())
    assert error.value.code == "010006096"
    assert isinstance(error.value, AirflowFailException)  # a retry would read the same failure


def test_deferred_sensor_timeout_is_a_sensor_timeout(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=60)
    generation_id = submit()
    sensor = I2VTaskSensor(task_id="wait", generation_id=generation_id, poll_interval=0.05, timeout=0.3)
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    [event] = run_trigger(deferred.value.trigger)
    assert event["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout, match=generation_id):  # as in poke mode: no retries
        sensor.execute_complete(context, event)


def test_the_sensor_pushes_the_generation_id_like_the_operator(simulator: Any, i2v_conn: str) -> None:
    generation_id = submit()
    context = make_context()
    with pytest.raises(TaskDeferred):
        I2VTaskSensor(task_id="wait", generation_id=generation_id).execute(context)
    assert context["ti"].xcom["generation_id"] == generation_id


def test_one_absolute_deadline_across_the_sensors_tries(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=600)
    generation_id = submit()
    store = DictStateStore()
    deadlines = []
    for _ in range(2):  # two tries of the same task instance, a little apart
        with pytest.raises(TaskDeferred) as deferred:
            I2VTaskSensor(task_id="wait", generation_id=generation_id, timeout=3600).execute(
                make_context(store)
            )
        deadlines.append(deferred.value.trigger.deadline)
        time.sleep(0.05)
    assert deadlines[0] == deadlines[1]


def test_poke_mode_times_out_at_the_first_tries_deadline(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=600)
    generation_id = submit()
    store = DictStateStore()
    first = I2VTaskSensor(task_id="wait", generation_id=generation_id, deferrable=False, timeout=0.3)
    first._deadline = first._start(make_context(store))
    assert first.poke(make_context(store)) is False
    time.sleep(0.4)
    retry = I2VTaskSensor(task_id="wait", generation_id=generation_id, deferrable=False, timeout=0.3)
    retry._deadline = retry._start(make_context(store))  # a retry: the clock does not restart
    with pytest.raises(AirflowSensorTimeout):
        retry.poke(make_context(store))


def test_a_clear_starts_a_new_deadline(simulator: Any, i2v_conn: str) -> None:
    """A clear raises the task instance's max_tries (Airflow's retries start over): a cleared,
    timed-out sensor waits a full timeout again instead of timing out at once."""
    simulator.configure(generation_seconds=600)
    generation_id = submit()
    store = DictStateStore()

    def context(max_tries: int) -> dict[str, Any]:
        ctx = make_context(store)
        ctx["ti"].max_tries = max_tries
        return ctx

    first = I2VTaskSensor(task_id="wait", generation_id=generation_id, deferrable=False, timeout=0.3)
    first._deadline = first._start(context(max_tries=1))
    time.sleep(0.4)
    cleared = I2VTaskSensor(task_id="wait", generation_id=generation_id, deferrable=False, timeout=0.3)
    cleared._deadline = cleared._start(context(max_tries=3))  # the user cleared it
    assert cleared.poke(context(max_tries=3)) is False  # a new deadline: still waiting
    assert cleared._deadline > first._deadline


@pytest.mark.parametrize("status", ["timeout", "failed"])
def test_soft_fail_is_honoured_after_a_deferral(simulator: Any, i2v_conn: str, status: str) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    if status == "failed":
        simulator.configure(fail_code="010006095", generation_seconds=0)
    else:
        simulator.configure(generation_seconds=600)
    generation_id = submit()
    sensor = I2VTaskSensor(task_id="wait", generation_id=generation_id, soft_fail=True, timeout=0.2)
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    [event] = run_trigger(deferred.value.trigger)
    assert event["status"] == status
    with pytest.raises(AirflowSkipException):  # what Airflow's task runner calls after a deferral
        sensor.resume_execution("execute_complete", {"event": event}, context)


def test_poking_resolves_the_connection_once(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator.configure(generation_seconds=600)
    calls = []
    original = I2VHook.get_connection

    def counting(conn_id: str) -> Any:
        calls.append(conn_id)
        return original(conn_id)

    generation_id = submit()
    monkeypatch.setattr(I2VHook, "get_connection", staticmethod(counting))
    sensor = I2VTaskSensor(task_id="wait", generation_id=generation_id, deferrable=False)
    for _ in range(3):
        assert sensor.poke(make_context()) is False
    assert calls == ["i2v_default"]


def test_poke_intervals_follow_the_same_schedule_as_the_trigger() -> None:
    from airflow_provider_i2v.protocol import parse_generation

    half_done = parse_generation(
        {"id": "g1", "status": "in_progress", "progress": 0.5, "created_at": time.time() - 50}
    )
    sensor = I2VTaskSensor(
        task_id="wait", generation_id="g1", deferrable=False, poll_interval=1, max_poll_interval=30
    )
    sensor._last = half_done
    pause = sensor._get_next_poke_interval(0.0, lambda: 0.0, 1)
    assert 27 <= pause <= 30  # toward the expected finish (~40 s away), capped at 30 s
    flat = I2VTaskSensor(task_id="wait", generation_id="g1", deferrable=False, adaptive_polling=False)
    flat._last = half_done
    assert 9 <= flat._get_next_poke_interval(0.0, lambda: 0.0, 1) <= 11
