"""The wire module: every spelling and shape a client of the gateway must tolerate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_i2v import protocol as p


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("in_progress", p.GenerationStatus.RUNNING),
        ("pending", p.GenerationStatus.RUNNING),
        ("IN_QUEUE", p.GenerationStatus.RUNNING),
        ("Processing", p.GenerationStatus.RUNNING),
        ("completed", p.GenerationStatus.COMPLETED),
        ("SUCCESS", p.GenerationStatus.COMPLETED),
        (" failed ", p.GenerationStatus.FAILED),
    ],
)
def test_known_status_spellings(raw: str, expected: p.GenerationStatus) -> None:
    assert p.normalise_status(raw) == (expected, True)


@pytest.mark.parametrize("raw", ["warming_up", "", None, 3, "succeeded?"])
def test_unknown_status_is_still_running_never_success(raw: object) -> None:
    assert p.normalise_status(raw) == (p.GenerationStatus.RUNNING, False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (10006095, "010006095"),
        ("010006095", "010006095"),
        ("10006099", "010006099"),
        (10006096.0, "010006096"),
        ("E42", "E42"),
        (None, None),
        ("", None),
        (True, None),
    ],
)
def test_error_code_normalised_to_one_form(raw: object, expected: str | None) -> None:
    assert p.normalise_error_code(raw) == expected


@pytest.mark.parametrize(
    "error",
    [
        {"code": 10006095, "error_message": "Internal generation error"},
        {"code": "010006095", "message": "Internal generation error"},
    ],
)
def test_failed_generation_error_object_shapes(error: dict[str, object]) -> None:
    state = p.parse_generation({"id": "g1", "status": "failed", "error": error})
    assert state.status is p.GenerationStatus.FAILED
    assert state.error == p.GenerationError(code="010006095", message="Internal generation error")
    assert state.error.known
    assert state.error.meaning == "Internal generation error"


def test_failed_generation_error_as_plain_string() -> None:
    state = p.parse_generation({"id": "g1", "status": "failed", "error": "content refused"})
    assert state.error == p.GenerationError(code=None, message="content refused")
    assert not state.error.known
    assert state.error.meaning == "unknown vendor failure"


def test_completed_answer_parsed_with_usage_untouched() -> None:
    usage = {"cost": "0.2800", "discount": 0, "extra_info": {"a": 1}}
    state = p.parse_generation(
        {
            "id": "d758n65e878c73cmdg20",
            "status": "completed",
            "model": "minimax_i2v_01_live",
            "created_at": 1769757744000,
            "progress": 1.0,
            "output": [
                {"content": [{"type": "video", "url": "https://cdn/x.mp4", "duration": "6", "jobId": 3}]},
                {"content": []},
                "garbage",
            ],
            "usage": usage,
            "metadata": {"completed_at": 1769757862.7},
        }
    )
    assert state.video_urls == ["https://cdn/x.mp4"]
    assert state.usage == usage
    assert state.cost == Decimal("0.2800")
    assert state.created_at == pytest.approx(1769757744.0)  # milliseconds tolerated
    assert state.raw["id"] == "d758n65e878c73cmdg20"


@pytest.mark.parametrize(
    ("cost", "expected"),
    [
        ("0.2800", Decimal("0.2800")),
        (0.28, Decimal("0.28")),
        ("", None),
        (None, None),
        ("n/a", None),
        (True, None),
    ],
)
def test_cost_is_exact_and_tolerant(cost: object, expected: Decimal | None) -> None:
    assert p.cost_of({"cost": cost}) == expected


@pytest.mark.parametrize("payload", [{"status": "in_progress"}, {"id": ""}, [], "x", {"id": None}])
def test_answer_without_id_is_malformed(payload: object) -> None:
    with pytest.raises(p.MalformedResponseError):
        p.parse_generation(payload)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, p.ErrorKind.BAD_REQUEST),
        (422, p.ErrorKind.BAD_REQUEST),
        (401, p.ErrorKind.AUTH),
        (402, p.ErrorKind.FORBIDDEN),
        (403, p.ErrorKind.FORBIDDEN),
        (404, p.ErrorKind.NOT_FOUND),
        (408, p.ErrorKind.TRANSIENT),
        (429, p.ErrorKind.TRANSIENT),
        (500, p.ErrorKind.TRANSIENT),
        (503, p.ErrorKind.TRANSIENT),
    ],
)
def test_http_status_classification(status: int, kind: p.ErrorKind) -> None:
    assert p.classify_status(status) is kind


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"message": "Rate limit exceeded"}', "Rate limit exceeded"),
        (b'{"error": "bad key"}', "bad key"),
        (b'{"error": {"message": "no balance"}}', "no balance"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b"", "(empty body)"),
    ],
)
def test_error_message_from_every_body_shape(body: bytes, message: str) -> None:
    assert p.error_message(body) == message


def test_retry_after_seconds_and_http_date() -> None:
    assert p.parse_retry_after("7") == 7.0
    assert p.parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=90.0) == pytest.approx(10.0)
    assert p.parse_retry_after("soon") is None
    assert p.parse_retry_after(None) is None
    assert p.parse_retry_after("-3") == 0.0


def test_request_body_round_trip_and_optional_fields_omitted() -> None:
    request = p.GenerationRequest(first_frame_image="https://x/y.png", prompt="hi", callback_url=None)
    body = request.to_body()
    assert body == {
        "model": "minimax_i2v_01_live",
        "input": [
            {
                "params": {
                    "first_frame_image": "https://x/y.png",
                    "prompt": "hi",
                    "duration": 6,
                    "resolution": "720P",
                    "prompt_optimizer": True,
                    "aigc_watermark": False,
                }
            }
        ],
    }
    assert p.GenerationRequest.from_body(body) == request


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"model": "m"},
        {"model": "m", "input": []},
        {"model": "m", "input": [{"params": {}}]},
        {"model": "m", "input": [{"params": {"first_frame_image": "x", "duration": "6"}}]},
        {"model": "m", "input": [{"params": {"first_frame_image": "x", "duration": True}}]},
    ],
)
def test_malformed_create_bodies_refused(body: object) -> None:
    with pytest.raises(p.MalformedRequestError):
        p.GenerationRequest.from_body(body)


def test_parameter_problems_name_field_value_and_limit() -> None:
    request = p.GenerationRequest(
        first_frame_image="ftp://x/y.png",
        duration=10,
        resolution="1080P",
        prompt="x" * 2001,
        callback_url="not a url",
    )
    problems = p.parameter_problems(request)
    assert len(problems) == 5
    assert any(s.startswith("duration: 10") and "[6]" in s for s in problems)
    assert any(s.startswith("resolution: '1080P'") and "['720P']" in s for s in problems)
    assert any(s.startswith("prompt: 2001 characters") and "2000" in s for s in problems)
    assert any(s.startswith("callback_url:") for s in problems)
    assert any(s.startswith("first_frame_image:") for s in problems)


def test_prompt_limit_counts_characters_not_bytes() -> None:
    ok = p.GenerationRequest(first_frame_image="https://x/y.png", prompt="é" * 2000)  # 4000 bytes in UTF-8
    assert p.parameter_problems(ok) == []


def test_unknown_model_refused() -> None:
    problems = p.parameter_problems(p.GenerationRequest(first_frame_image="https://x/y.png", model="sora"))
    assert problems
    assert problems[0].startswith("model: 'sora'")


def test_repr_and_description_never_include_image_bytes() -> None:
    data_url = "data:image/png;base64," + "A" * 10_000
    request = p.GenerationRequest(first_frame_image=data_url)
    assert "AAAA" not in repr(request)
    assert p.describe_image_reference(data_url) == "data:image/png;base64,<10000 base64 characters>"


def test_poll_path_quotes_the_id_and_round_trips() -> None:
    assert p.poll_path("abc/def") == "/model/v1/generation/task/abc%2Fdef"
    assert p.generation_id_from_poll_path(p.poll_path("d758n65e878c73cmdg20")) == "d758n65e878c73cmdg20"


def test_bearer_token_parsing() -> None:
    assert p.bearer_token("Bearer abc") == "abc"
    assert p.bearer_token("bearer  abc ") == "abc"
    assert p.bearer_token("Basic abc") is None
    assert p.bearer_token(None) is None
