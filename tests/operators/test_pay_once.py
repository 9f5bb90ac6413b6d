"""Regressions from review: paths where a user could pay twice or lose a paid id."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VCreationUncertainError,
    I2VNonRetryableError,
)
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
from airflow_provider_i2v.resume import STATE_KEY
from airflow_provider_i2v.simulator import Fault
from tests.conftest import DictStateStore, make_context
from tests.sim_helpers import creations


def operator(**kwargs: Any) -> ImageToVideoOperator:
    kwargs.setdefault("first_frame_image", "https://images.example.com/cat.jpg")
    return ImageToVideoOperator(task_id="generate", poll_interval=0.05, deferrable=False, **kwargs)


def test_lost_create_answer_is_said_plainly_on_the_next_try(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.configure(faults=[Fault("lost_create_answer", first_n=1, scope="create")])
    store = DictStateStore()
    with pytest.raises(I2VCreationUncertainError):
        operator().execute(make_context(store))
    assert "pending_since" in store.get(STATE_KEY)  # the unknown outcome is remembered
    result = operator().execute(make_context(store))  # Airflow's retry
    assert result["status"] == "completed"
    out = "".join(capfd.readouterr())
    assert "An earlier try of this task sent a create at" in out
    assert "may have been paid for" in out
    assert creations(simulator) == 2  # the gateway cannot look the first one up: said, not hidden


def test_a_known_create_failure_leaves_no_pending_marker(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(faults=[Fault("http_401", scope="create")])
    store = DictStateStore()
    with pytest.raises(I2VAuthenticationError):
        operator().execute(make_context(store))
    assert STATE_KEY not in store.rows


class FlakyStore(DictStateStore):
    """A task_state_store whose writes of a generation id fail ``failures`` times."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if "generation_id" in value and self.failures > 0:
            self.failures -= 1
            raise ConnectionError("execution API unreachable")
        super().set(key, value)


def test_store_write_is_retried(simulator: Any, i2v_conn: str) -> None:
    store = FlakyStore(failures=2)
    result = operator().execute(make_context(store))
    assert result["status"] == "completed"
    assert creations(simulator) == 1


def test_paid_id_that_cannot_be_stored_fails_without_retry_and_is_logged(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    store = FlakyStore(failures=100)
    context = make_context(store)
    with pytest.raises(I2VNonRetryableError, match="could not be recorded") as error:
        operator().execute(context)
    assert isinstance(error.value, AirflowFailException)  # a retry would pay again
    generation_id = error.value.generation_id
    assert generation_id == simulator.generation_ids[0]
    assert f"Submitted generation {generation_id}" in "".join(capfd.readouterr())
    assert context["ti"].xcom["generation_id"] == generation_id


def test_templated_fields_may_be_xcom_args_at_parse_time() -> None:
    from datetime import datetime

    from airflow.sdk import DAG, task

    with DAG("parse_xcomarg", start_date=datetime(2026, 1, 1), schedule=None):

        @task
        def make_prompt() -> str:
            return "blink"

        op = ImageToVideoOperator(
            task_id="generate",
            first_frame_image="https://x.example/a.png",
            prompt=make_prompt(),
            callback_url=make_prompt(),
        )
    assert op.prompt is not None
