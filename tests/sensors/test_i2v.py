"""I2VTaskSensor: waits for a generation submitted elsewhere; never submits."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_i2v.exceptions import I2VWatchedGenerationFailedError
from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.protocol import GenerationRequest
from airflow_provider_i2v.sensors.i2v import I2VTaskSensor
from tests.conftest import make_context
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
