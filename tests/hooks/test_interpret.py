"""The pure answer interpretation: status, headers and body in; a state, a transient failure or a
typed error out. No sockets."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from airflow_provider_i2v import exceptions as e
from airflow_provider_i2v.hooks.body import BoundedBody
from airflow_provider_i2v.hooks.i2v import CONNECTION_PROBE_ID
from airflow_provider_i2v.hooks.interpret import Call, TransientFailure, interpret, transport_failure
from airflow_provider_i2v.protocol import ID_ALPHABET, ID_LENGTH, MAX_RESPONSE_BYTES

POLL = Call("GET", "/model/v1/generation/task/g1", label="status of g1", generation_id="g1")
CREATE = Call("POST", "/model/v1/generation", json={}, creates=True, label="create")


def answer(call: Call, status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return interpret(call, status, headers or {}, raw)


def test_a_running_answer_is_a_state() -> None:
    state = answer(POLL, 200, {"id": "g1", "status": "in_progress", "progress": 0.4})
    assert (state.generation_id, state.progress) == ("g1", 0.4)


def test_a_json_404_on_a_poll_is_an_unknown_generation() -> None:
    with pytest.raises(e.I2VGenerationNotFoundError) as caught:
        answer(POLL, 404, {"message": "task not found"})
    assert not isinstance(caught.value, e.I2VNonRetryableError)


@pytest.mark.parametrize("body", [b"<html>not found</html>", b"", b"Not Found", b'["not", "an object"]'])
def test_a_non_json_404_on_a_poll_is_a_configuration_error_never_gone(body: bytes) -> None:
    """A proxy's or a web server's 404 says nothing about the generation: calling it gone
    would make the caller pay for a new one while it may still be rendering."""
    with pytest.raises(e.I2VConnectionConfigError, match="not the Vtrix gateway") as caught:
        answer(POLL, 404, body)
    assert not isinstance(caught.value, e.I2VGenerationNotFoundError)
    assert caught.value.generation_id == "g1"


def test_an_answer_about_another_id_is_refused_as_malformed() -> None:
    with pytest.raises(TransientFailure, match="about generation 'g2', not 'g1'"):
        answer(POLL, 200, {"id": "g2", "status": "completed", "output": [{"url": "http://x/v.mp4"}]})


def test_a_create_answer_names_its_new_id() -> None:
    assert answer(CREATE, 200, {"id": "new1", "status": "queued"}).generation_id == "new1"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("call", [POLL, CREATE], ids=["poll", "create"])
def test_a_redirect_from_the_gateway_is_a_configuration_error(status: int, call: Call) -> None:
    """E.g. http:// answered with a redirect to https://: the base URL is wrong; a 3xx is not
    a refusal of the request (no retry, and for a create: nothing was created)."""
    with pytest.raises(e.I2VConnectionConfigError, match=r"redirect .*https://gw\.example/x"):
        answer(call, status, b"", {"Location": "https://gw.example/x"})


def test_a_404_on_the_create_endpoint_is_a_configuration_error() -> None:
    with pytest.raises(e.I2VConnectionConfigError):
        answer(CREATE, 404, b"<html>nope</html>")


@pytest.mark.parametrize(
    ("status", "nothing_created", "throttled"),
    [(408, True, False), (429, True, True), (500, False, False), (502, False, False), (503, False, False)],
)
def test_transient_statuses_and_what_they_prove(status: int, nothing_created: bool, throttled: bool) -> None:
    with pytest.raises(TransientFailure) as caught:
        answer(CREATE, status, {"message": "busy"}, {"Retry-After": "7"})
    assert caught.value.nothing_created is nothing_created
    assert caught.value.throttled is throttled
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, e.I2VInvalidRequestError),
        (422, e.I2VInvalidRequestError),
        (401, e.I2VAuthenticationError),
        (402, e.I2VPermissionError),
        (403, e.I2VPermissionError),
    ],
)
def test_refusals_are_typed_and_final(status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        answer(CREATE, status, {"error": {"message": "no"}})


def test_a_200_without_id_proves_nothing_was_created_and_keeps_the_gateways_message() -> None:
    body = {"status": "failed", "error": {"code": 10006099, "message": "Task creation error"}}
    with pytest.raises(TransientFailure, match="Task creation error") as caught:
        answer(CREATE, 200, body)
    assert caught.value.nothing_created


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"id": "g1", "progress": ' + b"9" * 5000 + b"}"])
def test_an_unreadable_200_proves_nothing(body: bytes) -> None:
    with pytest.raises(TransientFailure) as caught:
        answer(CREATE, 200, body)
    assert not caught.value.nothing_created


@pytest.mark.parametrize(
    ("exc", "nothing_created"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow connect"), True),
        (httpx.PoolTimeout("pool"), True),
        (httpx.ReadTimeout("slow answer"), False),
        (httpx.RemoteProtocolError("dropped"), False),
        (httpx.ReadError("reset"), False),
        (TimeoutError(), False),
    ],
)
def test_only_failures_before_sending_prove_nothing_was_created(
    exc: Exception, nothing_created: bool
) -> None:
    assert transport_failure(exc).nothing_created is nothing_created  # type: ignore[arg-type]


def test_a_local_protocol_error_never_quotes_the_header_it_refused() -> None:
    failure = transport_failure(httpx.LocalProtocolError("Illegal header value b'Bearer sk-SECRET'"))
    assert "SECRET" not in failure.message


def test_bounded_body_refuses_an_announced_oversize_before_reading() -> None:
    with pytest.raises(TransientFailure, match="larger than"):
        BoundedBody({"Content-Length": str(MAX_RESPONSE_BYTES + 1)}, deadline=float("inf"))


def test_bounded_body_refuses_past_the_cap_and_past_the_deadline() -> None:
    body = BoundedBody({}, deadline=float("inf"))
    body.add(b"x" * MAX_RESPONSE_BYTES)
    with pytest.raises(TransientFailure, match="larger than"):
        body.add(b"x")
    late = BoundedBody({}, deadline=0.0)
    with pytest.raises(TransientFailure, match="too long"):
        late.add(b"{}")


def test_bounded_body_joins_chunks() -> None:
    body = BoundedBody({"Content-Length": "not a number"}, deadline=float("inf"))
    for chunk in (b'{"id"', b': "g1"}'):
        body.add(chunk)
    assert body.content() == b'{"id": "g1"}'


def test_the_connection_probe_id_looks_like_a_real_id() -> None:
    assert re.fullmatch(f"[{ID_ALPHABET}]{{{ID_LENGTH}}}", CONNECTION_PROBE_ID)
