"""Odd answers are malformed answers (transient), never a crash; odd ids never name a file."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_i2v import protocol as p

HUGE = 10**400


@pytest.mark.parametrize("progress", [math.nan, math.inf, -math.inf, HUGE, -HUGE, 1.5, -0.1, "0.5", True])
def test_unreadable_progress_is_absent_not_a_crash(progress: Any) -> None:
    state = p.parse_generation({"id": "g1", "status": "in_progress", "progress": progress})
    assert state.progress is None


@pytest.mark.parametrize("created_at", [math.nan, math.inf, HUGE, "1769757744", True])
def test_unreadable_created_at_is_absent_not_a_crash(created_at: Any) -> None:
    state = p.parse_generation({"id": "g1", "status": "in_progress", "created_at": created_at})
    assert state.created_at is None


def test_json_with_a_400_digit_number_parses_or_is_malformed() -> None:
    body = b'{"id": "g1", "status": "in_progress", "progress": ' + b"9" * 400 + b"}"
    state = p.parse_generation(p.decode_json(body))
    assert state.progress is None


def test_json_with_a_number_past_pythons_digit_limit_is_malformed() -> None:
    body = b'{"id": "g1", "progress": ' + b"9" * 5000 + b"}"
    with pytest.raises(p.MalformedResponseError):
        p.decode_json(body)


def test_deeply_nested_json_is_malformed_not_a_recursion_crash() -> None:
    with pytest.raises(p.MalformedResponseError):
        p.decode_json(b"[" * 100_000 + b"]" * 100_000)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries(
    {"id": st.one_of(st.text(min_size=1, max_size=5), st.integers())},
    optional={
        key: JSON
        for key in ("status", "progress", "created_at", "output", "usage", "metadata", "error", "model")
    },
)


@settings(max_examples=400, deadline=None)
@given(FIELDS)
def test_any_json_answer_is_a_state_or_malformed(payload: dict[str, Any]) -> None:
    try:
        state = p.parse_generation(json.loads(json.dumps(payload)))
    except p.MalformedResponseError:
        return
    assert state.progress is None or 0.0 <= state.progress <= 1.0
    assert state.created_at is None or math.isfinite(state.created_at)
    state.cost  # noqa: B018  (reading the cost never raises)


def test_create_answer_without_id_keeps_the_gateways_error() -> None:
    with pytest.raises(p.MissingGenerationIdError) as caught:
        p.parse_generation(
            {"status": "failed", "error": {"code": 10006099, "message": "Task creation error"}}
        )
    assert caught.value.gateway_error == p.GenerationError(code="010006099", message="Task creation error")


@pytest.mark.parametrize("good", ["d758n65e878c73cmdg20", "A1", "job_42-x"])
def test_ids_seen_on_the_wire_are_file_safe(good: str) -> None:
    assert p.is_file_safe_id(good)


@pytest.mark.parametrize(
    "bad", ["", "../etc/passwd", "a/b", "..", ".hidden", "a b", "a\x00b", "x" * 129, "é"]
)
def test_ids_that_could_escape_a_folder_are_not_file_safe(bad: str) -> None:
    assert not p.is_file_safe_id(bad)


def test_int_checks_refuse_bools() -> None:
    assert p.is_int(6)
    assert not p.is_int(True)
    assert p.is_number(0.5)
    assert not p.is_number(False)
    assert p.finite_float(HUGE) is None


def test_generation_error_code_is_an_integer_on_the_wire_by_default() -> None:
    error = p.GenerationError(code="010006095", message="Internal generation error")
    assert error.to_payload() == {"code": 10006095, "error_message": "Internal generation error"}
    assert error.to_payload(code_as_int=False)["code"] == "010006095"


def test_every_wire_spelling_reads_back_as_its_status() -> None:
    for status in p.GenerationStatus:
        assert p.normalise_status(status.wire) == (status, True)


def test_only_408_and_429_among_transient_statuses_prove_nothing_was_created() -> None:
    transient = [s for s in range(400, 600) if p.classify_status(s) is p.ErrorKind.TRANSIENT]
    assert [s for s in transient if p.status_proves_nothing_created(s)] == [408, 429]


@pytest.mark.parametrize("raw", ["²", "٣", "¹²³", " ² "])
def test_non_ascii_digits_are_a_code_as_written_never_a_crash(raw: str) -> None:
    """``"²".isdigit()`` is true but ``int("²")`` raises: such a code is kept as text."""
    assert p.normalise_error_code(raw) == raw.strip()
    error = p.GenerationError.from_payload({"code": raw, "message": "m"})
    assert error.code == raw.strip()


@given(st.text(max_size=20))
@settings(max_examples=300)
def test_any_code_text_normalises_without_raising(raw: str) -> None:
    p.normalise_error_code(raw)
