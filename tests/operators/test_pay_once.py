"""Regressions from review: paths where a user could pay twice or lose a paid id."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VCreationUncertainError,
    I2VCreationUnresolvedError,
    I2VInvalidRequestError,
    I2VNonRetryableError,
    I2VStateStoreError,
    I2VTimeoutError,
)
from airflow_provider_i2v.generation.record import STATE_KEY
from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
from airflow_provider_i2v.simulator import Fault
from tests.conftest import DictStateStore, RecordingTI, make_context
from tests.sim_helpers import creations, interrupt_once_created


def operator(**kwargs: Any) -> ImageToVideoOperator:
    kwargs.setdefault("check_image_url", False)  # example.com is never fetched; URL checks: tests/images
    kwargs.setdefault("first_frame_image", "https://images.example.com/cat.jpg")
    return ImageToVideoOperator(task_id="generate", poll_interval=0.05, deferrable=False, **kwargs)


def test_lost_create_answer_is_resubmitted_within_the_try_and_said_plainly(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.configure(faults=[Fault("lost_create_answer", first_n=1, scope="create")])
    store = DictStateStore()
    result = operator().execute(make_context(store))  # one try: no Airflow retry is burnt
    assert result["status"] == "completed"
    out = "".join(capfd.readouterr())
    assert "a generation may have been paid for twice; counted in uncertain_creates" in out
    assert result["uncertain_creates"] == 1
    assert creations(simulator) == 2  # the gateway cannot look the first one up: said, not hidden


def test_a_storm_of_503_on_create_does_not_fail_a_task_with_retries_left(
    simulator: Any, i2v_conn: str
) -> None:
    """30 % of creates answered 503: each unknown outcome is resubmitted within the try."""
    simulator.configure(faults=[Fault("http_503", rate=0.3, scope="create")])
    results = [operator(prompt=f"take {i}").execute(make_context(DictStateStore())) for i in range(12)]
    assert all(r["status"] == "completed" for r in results)
    answered_503 = sum(1 for r in simulator.requests if r.status == 503)
    assert answered_503 > 0  # the storm happened
    assert sum(r["uncertain_creates"] for r in results) == answered_503  # each one counted


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
    assert f"Submitted generation {generation_id}" in "".join(capfd.readouterr())  # logged first
    assert "generation_id" not in context["ti"].xcom  # announced only once stored
    assert context["ti"].xcom["error"]["generation_id"] == generation_id


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


# --- holes found in review: paths where a try could pay twice or lose what it paid for ---------


def hold_create_answer(simulator: Any, seconds: float = 3.0) -> None:
    """The gateway creates the generation, then holds its answer back."""
    simulator.configure(slow_seconds=seconds, faults=[Fault("slow", scope="create", first_n=1)])


@pytest.mark.parametrize("interruption", ["AirflowTaskTimeout", "AirflowTaskTerminated", "KeyboardInterrupt"])
def test_an_interruption_while_the_create_is_on_the_wire_is_never_paid_again_in_silence(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str], interruption: str
) -> None:
    import airflow.sdk.exceptions as airflow_exceptions

    exc = getattr(airflow_exceptions, interruption, None) or KeyboardInterrupt
    hold_create_answer(simulator)
    store = DictStateStore()
    with pytest.raises(exc), interrupt_once_created(simulator, lambda: exc("interrupted by the test")):
        operator().execute(make_context(store))
    assert creations(simulator) == 1  # the gateway did create it
    assert "pending_since" in store.get(STATE_KEY)  # the intent stays: the outcome is unknown
    first = "".join(capfd.readouterr())
    assert "a generation MAY have been created and paid for" in first
    result = operator().execute(make_context(store))  # Airflow's next try
    out = "".join(capfd.readouterr())
    assert "has an unknown outcome: a generation may exist and may have been paid for" in out
    assert result["uncertain_creates"] == 1
    assert creations(simulator) == 2


def test_the_id_is_stored_before_the_xcom_push_so_a_failed_push_loses_nothing(
    simulator: Any, i2v_conn: str
) -> None:
    class PushFails(RecordingTI):
        def xcom_push(self, key: str, value: Any) -> None:
            raise ConnectionError("execution API unreachable")

    store = DictStateStore()
    context = make_context(store)
    context["ti"] = PushFails()
    with pytest.raises(ConnectionError):
        operator().execute(context)
    assert store.get(STATE_KEY)["generation_id"] == simulator.generation_ids[0]
    result = operator().execute(make_context(store))  # the retry reconnects
    assert result["generation_id"] == simulator.generation_ids[0]
    assert creations(simulator) == 1


@pytest.mark.parametrize("policy", ["resubmit", "fail"])
def test_on_uncertain_create_decides_what_happens_next(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str], policy: str
) -> None:
    simulator.configure(faults=[Fault("lost_create_answer", first_n=1, scope="create")])
    store = DictStateStore()
    if policy == "resubmit":
        result = operator(on_uncertain_create=policy).execute(make_context(store))
        assert result["uncertain_creates"] == 1
        assert creations(simulator) == 2
        return
    with pytest.raises(I2VCreationUnresolvedError) as first:
        operator(on_uncertain_create=policy).execute(make_context(store))
    assert isinstance(first.value, AirflowFailException)
    # Even if Airflow runs the task again (a clear), it does not pay until a user acknowledges.
    with pytest.raises(I2VCreationUnresolvedError, match="i2v_acknowledge_uncertain"):
        operator(on_uncertain_create=policy).execute(make_context(store))
    assert creations(simulator) == 1
    store.set("i2v_acknowledge_uncertain", True)  # what the documented REST call does
    result = operator(on_uncertain_create=policy).execute(make_context(store))
    assert result["uncertain_creates"] == 1
    assert creations(simulator) == 2
    assert "A user acknowledged it" in "".join(capfd.readouterr())
    assert "i2v_acknowledge_uncertain" not in store.rows  # it covered that create, not later ones


def test_a_bad_on_uncertain_create_is_refused_at_parse_time() -> None:
    with pytest.raises(I2VInvalidRequestError, match="on_uncertain_create"):
        operator(on_uncertain_create="maybe")


def test_a_clean_run_counts_no_uncertain_creates(simulator: Any, i2v_conn: str) -> None:
    assert operator().execute(make_context())["uncertain_creates"] == 0


def test_an_unreadable_state_store_submits_nothing(simulator: Any, i2v_conn: str) -> None:
    class Unreadable(DictStateStore):
        def get(self, key: str, default: Any = None) -> Any:
            raise ConnectionError("execution API unreachable")

    with pytest.raises(I2VStateStoreError, match="could not be read"):
        operator().execute(make_context(Unreadable()))
    assert creations(simulator) == 0


@pytest.mark.parametrize(
    "connection",
    [
        None,  # no such connection
        {"conn_type": "i2v", "host": "http://127.0.0.1:9", "password": "k", "extra": {"max_retries": "nan"}},
        {"conn_type": "i2v", "host": "http://127.0.0.1:9", "password": "k", "extra": {"timeout": "nan"}},
    ],
    ids=["missing", "max_retries-nan", "timeout-nan"],
)
def test_a_bad_connection_is_found_before_the_intent_so_nothing_reads_as_maybe_paid(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, connection: Any
) -> None:
    import json

    if connection is None:
        monkeypatch.delenv("AIRFLOW_CONN_I2V_MISSING", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_I2V_MISSING", json.dumps(connection))
    store = DictStateStore()
    with pytest.raises(Exception, match=r"i2v_missing|max_retries|timeout") as raised:
        operator(i2v_conn_id="i2v_missing").execute(make_context(store))
    assert not isinstance(raised.value, I2VCreationUncertainError)
    assert store.rows == {}  # no intent: the next try has no "may have been paid for" to say
    assert creations(simulator) == 0


def test_a_generation_made_on_another_gateway_is_a_config_error_never_a_new_payment(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_i2v.exceptions import I2VConnectionConfigError
    from tests.conftest import connection_uri, simulator_base_url

    store = DictStateStore()
    simulator.configure(generation_seconds=60)
    with pytest.raises(I2VTimeoutError):
        operator(generation_timeout=0.2).execute(make_context(store))  # submitted, still rendering
    moved = simulator_base_url().replace("127.0.0.1", "localhost")
    monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", connection_uri(moved))
    with pytest.raises(I2VConnectionConfigError, match="was created on"):
        operator().execute(make_context(store))
    assert creations(simulator) == 1


def test_a_record_of_a_release_without_digests_is_reused_not_paid_again(
    simulator: Any, i2v_conn: str
) -> None:
    """A retry in flight across the upgrade: its record has an id but no request digest."""
    first = operator().execute(make_context(DictStateStore()))
    store = DictStateStore()
    store.set(STATE_KEY, {"generation_id": first["generation_id"], "submitted_at": 1.0})  # as it was written
    again = operator().execute(make_context(store))
    assert again["generation_id"] == first["generation_id"]
    assert creations(simulator) == 1


def test_the_acknowledgement_is_used_up_before_anything_is_sent(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(faults=[Fault("lost_create_answer", first_n=1, scope="create")])
    store = DictStateStore()
    with pytest.raises(I2VCreationUnresolvedError):
        operator(on_uncertain_create="fail").execute(make_context(store))

    class AckStaysPut(DictStateStore):
        def delete(self, key: str) -> None:
            raise ConnectionError("execution API unreachable")

    stuck = AckStaysPut()
    stuck.rows = dict(store.rows)
    stuck.set("i2v_acknowledge_uncertain", True)
    with pytest.raises(I2VStateStoreError):
        operator(on_uncertain_create="fail").execute(make_context(stuck))
    assert creations(simulator) == 1  # it could not be used up, so nothing was sent on it
