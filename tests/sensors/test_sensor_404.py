"""A sensor waiting for an id the gateway does not know fails (asked twice), in poke mode too."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_i2v.exceptions import I2VGenerationNotFoundError
from airflow_provider_i2v.generation import wait as wait_module
from airflow_provider_i2v.sensors.i2v import I2VTaskSensor
from tests.conftest import DictStateStore, make_context


def test_poking_an_unknown_id_fails_after_asking_twice(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wait_module, "ASK_AGAIN_AFTER", 0.01)
    sensor = I2VTaskSensor(task_id="wait", generation_id="zzzzzzzzzzzzzzzzzzzz", deferrable=False, timeout=60)
    store = DictStateStore()
    sensor._deadline = sensor._start(make_context(store))
    with pytest.raises(I2VGenerationNotFoundError):
        sensor.poke(make_context(store))
    polls = [r for r in simulator.requests if r.endpoint == "poll"]
    assert len(polls) == 2
