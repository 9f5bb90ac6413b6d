"""Status spellings, unknown statuses and failed generations with every code and shape."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from airflow_provider_i2v.protocol import (
    KNOWN_ERROR_CODES,
    GenerationError,
    GenerationStatus,
    normalise_error_code,
    normalise_status,
    parse_generation,
)
from airflow_provider_i2v.simulator import SimConfig, Simulator

from .helpers import create, poll


@pytest.mark.parametrize(
    "running", ["in_progress", "pending", "processing", "in_queue", "IN_PROGRESS", "Pending"]
)
def test_running_spellings(client: httpx.Client, sim: Simulator, running: str) -> None:
    sim.configure(running_status=running, generation_seconds=10)
    created = create(client)
    polled = poll(client, created["id"])
    assert created["status"] == polled["status"] == running
    assert normalise_status(polled["status"]) == (GenerationStatus.RUNNING, True)


@pytest.mark.parametrize("completed", ["completed", "success", "SUCCESS", "Completed"])
def test_completed_spellings(client: httpx.Client, sim: Simulator, completed: str) -> None:
    sim.configure(completed_status=completed, generation_seconds=0)
    answer = poll(client, create(client)["id"])
    assert answer["status"] == completed
    assert parse_generation(answer).status is GenerationStatus.COMPLETED


def test_failed_spelling(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(failed_status="FAILED", fail_code="010006095", generation_seconds=0)
    answer = poll(client, create(client)["id"])
    assert answer["status"] == "FAILED"
    assert parse_generation(answer).status is GenerationStatus.FAILED


@pytest.mark.parametrize(
    ("name", "value"),
    [("completed_status", "pending"), ("running_status", "success"), ("unknown_status", "processing")],
)
def test_spellings_that_would_mislead_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        SimConfig().updated({name: value})


def test_first_polls_answer_an_unknown_status(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(unknown_status_polls=2, unknown_status="warming_up", generation_seconds=0)
    first_id, second_id = create(client)["id"], create(client)["id"]
    seen = [poll(client, first_id)["status"] for _ in range(3)]
    assert seen == ["warming_up", "warming_up", "completed"]
    assert normalise_status("warming_up") == (GenerationStatus.RUNNING, False)
    assert poll(client, second_id)["status"] == "warming_up"  # counted per generation


CODES = sorted(KNOWN_ERROR_CODES)


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("shape", ["object", "object_message", "string"])
@pytest.mark.parametrize("form", ["string", "int"])
def test_failures_with_every_code_shape_and_form(
    client: httpx.Client, sim: Simulator, code: str, shape: str, form: str
) -> None:
    sim.configure(fail_code=code, error_shape=shape, error_code_form=form, generation_seconds=0)
    generation_id = create(client)["id"]
    answer = poll(client, generation_id)
    assert answer["status"] == "failed"
    assert "output" not in answer
    assert "usage" not in answer
    error = answer["error"]
    message = KNOWN_ERROR_CODES[code]
    if shape == "string":
        assert error == message
    else:
        message_key = "error_message" if shape == "object" else "message"
        assert error == {"code": int(code) if form == "int" else code, message_key: message}
        assert GenerationError.from_payload(error) == GenerationError(code=code, message=message)
    state = parse_generation(answer)
    assert state.status is GenerationStatus.FAILED
    assert state.error is not None
    assert message in state.error.message


def test_a_failure_stays_running_until_its_time(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(fail_code="010006099", generation_seconds=50)
    generation_id = create(client)["id"]
    assert poll(client, generation_id)["status"] == "in_progress"
    sim.advance(50)
    assert poll(client, generation_id)["error"]["code"] == 10006099


def test_the_code_is_an_integer_by_default_as_the_model_page_types_it(
    client: httpx.Client, sim: Simulator
) -> None:
    sim.configure(fail_code="010006095", generation_seconds=0)
    error = poll(client, create(client)["id"])["error"]
    assert error == {"code": 10006095, "error_message": "Internal generation error"}
    sim.configure(error_code_form="string")  # the variant a client must tolerate too
    assert poll(client, create(client)["id"])["error"]["code"] == "010006095"


def test_unknown_codes_and_custom_messages(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(
        fail_code="E42", fail_message="content refused", error_code_form="int", generation_seconds=0
    )
    error = poll(client, create(client)["id"])["error"]
    assert error == {"code": "E42", "error_message": "content refused"}  # cannot be an int
    sim.configure(fail_code=10006096, error_code_form="string")  # an int code is normalised
    assert poll(client, create(client)["id"])["error"]["code"] == "010006096"


def test_fail_rate_fails_a_fraction_with_known_codes(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(fail_rate=0.5, generation_seconds=0)
    outcomes: Counter[str] = Counter()
    codes = set()
    for _ in range(60):
        answer = poll(client, create(client)["id"])
        outcomes[answer["status"]] += 1
        if answer["status"] == "failed":
            codes.add(normalise_error_code(answer["error"]["code"]))
    assert 15 <= outcomes["failed"] <= 45, outcomes
    assert outcomes["failed"] + outcomes["completed"] == 60
    assert codes <= set(KNOWN_ERROR_CODES)
    assert len(codes) >= 3


def test_fail_rate_with_a_code(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(fail_rate=1.0, fail_code="010006098", generation_seconds=0)
    assert poll(client, create(client)["id"])["error"]["code"] == 10006098
    sim.configure(fail_rate=0.0)
    assert poll(client, create(client)["id"])["status"] == "completed"
