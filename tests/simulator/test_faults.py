"""Every fault kind, as an httpx client sees it, and what the record says about it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from airflow_provider_i2v.protocol import (
    CREATE_PATH,
    MAX_RESPONSE_BYTES,
    ErrorKind,
    MalformedResponseError,
    auth_header,
    classify_status,
    decode_json,
    error_message,
    parse_generation,
    parse_retry_after,
    poll_path,
)
from airflow_provider_i2v.simulator import Fault, SimConfig, Simulator, SimulatorServer, file_path

from .helpers import API_KEY, create, create_body, poll


def _fault(sim: Simulator, kind: str, scope: str = "all", **extra: object) -> None:
    sim.configure(faults=[Fault(kind=kind, scope=scope)], **extra)


# ----------------------------------------------------------------------------- HTTP statuses


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (429, ErrorKind.TRANSIENT),
        (500, ErrorKind.TRANSIENT),
        (502, ErrorKind.TRANSIENT),
        (503, ErrorKind.TRANSIENT),
        (401, ErrorKind.AUTH),
        (402, ErrorKind.FORBIDDEN),
        (403, ErrorKind.FORBIDDEN),
    ],
)
def test_http_faults_on_create_create_nothing(
    client: httpx.Client, sim: Simulator, status: int, kind: ErrorKind
) -> None:
    _fault(sim, f"http_{status}", "create")
    response = client.post(CREATE_PATH, json=create_body())
    assert response.status_code == status
    assert classify_status(status) is kind
    assert error_message(response.content)
    assert sim.creations == 0
    record = sim.requests[-1]
    assert (record.status, record.fault, record.endpoint) == (status, f"http_{status}", "create")


def test_http_fault_on_poll(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "500", "poll")
    assert client.get(poll_path(generation_id)).status_code == 500
    assert sim.stats()["faults_by_kind"] == {"http_500": 1}


def test_429_carries_retry_after_in_seconds(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "http_429", retry_after=2)
    response = client.post(CREATE_PATH, json=create_body())
    assert response.headers["retry-after"] == "2"
    assert parse_retry_after(response.headers["retry-after"]) == 2.0


def test_503_carries_retry_after_as_an_http_date(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "http_503", retry_after=30, retry_after_form="date")
    response = client.post(CREATE_PATH, json=create_body())
    value = response.headers["retry-after"]
    assert value.endswith("GMT")
    seconds = parse_retry_after(value)
    assert seconds is not None
    assert 28 <= seconds <= 31


def test_retry_after_can_be_left_out_and_is_only_on_429_and_503(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "http_500")
    assert "retry-after" not in client.post(CREATE_PATH, json=create_body()).headers
    _fault(sim, "http_429", retry_after=None)
    assert "retry-after" not in client.post(CREATE_PATH, json=create_body()).headers


def test_error_bodies_rotate_through_every_style(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "http_429")
    bodies = [client.post(CREATE_PATH, json=create_body()) for _ in range(4)]
    assert bodies[0].json() == {"message": "Rate limit exceeded"}
    assert bodies[1].json() == {"error": "Rate limit exceeded"}
    assert bodies[2].json() == {"error": {"message": "Rate limit exceeded"}}
    assert bodies[3].headers["content-type"].startswith("text/html")
    with pytest.raises(json.JSONDecodeError):
        json.loads(bodies[3].content)
    for response in bodies:
        assert "Rate limit exceeded" in error_message(response.content)


@pytest.mark.parametrize("style", ["message", "error_string", "error_object", "text"])
def test_one_error_body_style(client: httpx.Client, sim: Simulator, style: str) -> None:
    _fault(sim, "http_403", error_body=style)
    first = client.post(CREATE_PATH, json=create_body())
    second = client.post(CREATE_PATH, json=create_body())
    assert first.content == second.content
    assert "permission denied" in error_message(first.content)


def test_a_forced_401_with_a_valid_key(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "401", "poll")
    assert client.get(poll_path(generation_id)).status_code == 401


# ----------------------------------------------------------------------------- connection-level


def test_reset_is_a_read_error_and_creates_nothing(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "reset", "create")
    with pytest.raises(httpx.ReadError):
        client.post(CREATE_PATH, json=create_body())
    assert sim.creations == 0
    record = sim.requests[-1]
    assert (record.status, record.fault) == (None, "reset")
    sim.configure(faults=[])
    create(client)  # the client recovers on a new connection


def test_drop_is_a_server_disconnect(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "drop", "poll")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        client.get(poll_path(generation_id))
    assert sim.requests[-1].status is None


def test_lost_create_answer_creates_the_generation(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "lost_create_answer")
    with pytest.raises(httpx.ReadError):
        client.post(CREATE_PATH, json=create_body())
    assert sim.creations == 1
    record = sim.requests[-1]
    assert record.fault == "lost_create_answer"
    assert record.status is None
    assert record.generation_id == sim.generation_ids[0]
    stats = sim.stats()
    assert (stats["creates"], stats["creates_accepted"], stats["creates_answered"]) == (1, 1, 0)
    sim.configure(faults=[])
    assert poll(client, sim.generation_ids[0])["id"] == sim.generation_ids[0]


def test_lost_create_answer_never_hits_polls(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "lost_create_answer")
    assert poll(client, generation_id)["id"] == generation_id
    assert sim.requests[-1].fault is None


def test_truncated_body(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "truncated_body", "poll")
    with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
        client.get(poll_path(generation_id))
    assert sim.requests[-1].status == 200
    assert sim.stats()["polls_answered"] == 0


def test_truncated_create_still_creates(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "truncated_body", "create")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(CREATE_PATH, json=create_body())
    assert sim.creations == 1


def test_slow_answers_late_and_times_clients_out(server: SimulatorServer, sim: Simulator) -> None:
    _fault(sim, "slow", "create", slow_seconds=0.4)
    with httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=5) as patient:
        started = time.monotonic()
        create(patient)
        assert time.monotonic() - started >= 0.4
    with (
        httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=0.1) as hasty,
        pytest.raises(httpx.ReadTimeout),
    ):
        hasty.post(CREATE_PATH, json=create_body())
    deadline = time.monotonic() + 10  # the held answer is recorded once its hold ends
    while len(sim.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.creations == 2  # a create that timed out may still have been created
    assert [r.fault for r in sim.requests] == ["slow", "slow"]


def test_slow_create_holds_the_answer_of_a_generation_that_already_exists(
    server: SimulatorServer, sim: Simulator
) -> None:
    """What a test needs to hit a task's execution_timeout while its create is on the wire:
    the generation exists while its answer is held, and a client that gives up never gets it."""
    _fault(sim, "slow", "create", slow_seconds=30)
    outcome: list[BaseException | httpx.Response] = []

    def hasty_create() -> None:
        with httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=0.6) as hasty:
            try:
                outcome.append(hasty.post(CREATE_PATH, json=create_body()))
            except httpx.HTTPError as exc:  # the timeout: the client closes its connection
                outcome.append(exc)

    waiting = threading.Thread(target=hasty_create)
    waiting.start()
    deadline = time.monotonic() + 10
    while sim.creations == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.creations == 1  # created ...
    assert outcome == []  # ... while the answer is held
    assert sim.requests == []  # recorded once its fate is known
    waiting.join(10)
    [error] = outcome
    assert isinstance(error, httpx.ReadTimeout)
    deadline = time.monotonic() + 10
    while not sim.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    [record] = sim.requests
    assert (record.status, record.fault, record.client_gave_up) == (None, "slow", True)
    assert record.generation_id == sim.generation_ids[0]  # it was created all the same
    stats = sim.stats()
    assert (stats["creates"], stats["creates_accepted"], stats["creates_answered"]) == (1, 1, 0)
    assert stats["statuses"] == {"none": 1}


def test_a_held_answer_that_is_waited_for_is_delivered(server: SimulatorServer, sim: Simulator) -> None:
    _fault(sim, "slow", "poll", slow_seconds=0.3)
    with httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=5) as patient:
        generation_id = create(patient)["id"]
        assert poll(patient, generation_id)["id"] == generation_id
    record = sim.requests[-1]
    assert (record.status, record.fault, record.client_gave_up) == (200, "slow", False)
    assert sim.stats()["polls_answered"] == 1


# ----------------------------------------------------------------------------- bodies


@pytest.mark.parametrize("variant", ["truncated", "html", "empty", "not_object"])
def test_malformed_json(client: httpx.Client, sim: Simulator, variant: str) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "malformed_json", "poll", malformed_body=variant)
    response = client.get(poll_path(generation_id))
    assert response.status_code == 200
    with pytest.raises(MalformedResponseError):
        parse_generation(decode_json(response.content))


def test_malformed_rotates_through_variants(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "malformed_json", "poll")
    bodies = {client.get(poll_path(generation_id)).content for _ in range(4)}
    assert len(bodies) == 4


def test_missing_id_on_create_is_a_failed_creation_with_an_error(
    client: httpx.Client, sim: Simulator
) -> None:
    _fault(sim, "missing_id", "create")
    response = client.post(CREATE_PATH, json=create_body())
    assert response.status_code == 200
    answer = response.json()
    assert "id" not in answer
    assert answer["error"] == {"code": 10006099, "error_message": "Task creation error"}
    assert answer["status"] == "failed"
    with pytest.raises(MalformedResponseError):
        parse_generation(answer)
    assert sim.creations == 0
    assert sim.stats()["creates_answered"] == 0
    assert sim.requests[-1].generation_id is None


@pytest.mark.parametrize(
    ("shape", "form", "expected"),
    [
        ("string", "int", "Task creation error"),
        ("object_message", "string", {"code": "010006099", "message": "Task creation error"}),
    ],
)
def test_missing_id_on_create_follows_the_error_knobs(
    client: httpx.Client, sim: Simulator, shape: str, form: str, expected: object
) -> None:
    _fault(sim, "missing_id", "create", error_shape=shape, error_code_form=form)
    assert client.post(CREATE_PATH, json=create_body()).json()["error"] == expected
    sim.configure(create_error_code="E_QUOTA", error_shape="object")
    assert client.post(CREATE_PATH, json=create_body()).json()["error"] == {
        "code": "E_QUOTA",
        "error_message": "unknown vendor failure",
    }
    assert sim.creations == 0


def test_missing_id_on_poll_leaves_the_id_out(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "missing_id", "poll")
    answer = poll(client, generation_id)
    assert "id" not in answer
    assert answer["status"] == "in_progress"
    assert "error" not in answer


@pytest.mark.parametrize("chunked", [True, False])
def test_huge_body(client: httpx.Client, sim: Simulator, chunked: bool) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "huge_body", "poll", huge_body_mib=8, huge_body_chunked=chunked)
    with client.stream("GET", poll_path(generation_id)) as response:
        assert response.status_code == 200
        if chunked:
            assert "content-length" not in response.headers
        else:
            assert response.headers["content-length"] == str(8 * 1024 * 1024)
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > MAX_RESPONSE_BYTES:
                break  # what a capped client does
    assert received > MAX_RESPONSE_BYTES


def test_huge_body_is_valid_json_of_the_announced_size(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "huge_body", "poll", huge_body_mib=1, huge_body_chunked=False)
    response = client.get(poll_path(generation_id))
    assert len(response.content) == 1024 * 1024
    assert parse_generation(response.json()).generation_id == generation_id


def test_body_faults_never_replace_a_refusal(client: httpx.Client, sim: Simulator) -> None:
    _fault(sim, "malformed_json", "poll")
    response = client.get(poll_path("unknown"))
    assert response.status_code == 404
    assert response.json()["message"]
    assert sim.requests[-1].fault is None


# ----------------------------------------------------------------------------- files


def test_file_faults(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=0, file_size=100_000)
    generation_id = create(client)["id"]
    _fault(sim, "truncated_body", "files")
    with pytest.raises(httpx.RemoteProtocolError, match="received 50000 bytes, expected 100000"):
        client.get(file_path(generation_id))
    assert client.head(file_path(generation_id)).status_code == 200  # nothing to truncate
    _fault(sim, "reset", "files")
    with pytest.raises(httpx.ReadError):
        client.get(file_path(generation_id))
    _fault(sim, "503", "files")
    assert client.get(file_path(generation_id)).status_code == 503
    assert sim.stats()["file_downloads"] == 0


# ----------------------------------------------------------------------------- selection


def test_first_n_faults_exactly_the_first_requests(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    sim.configure(faults=[Fault(kind="http_503", scope="poll", first_n=2)])
    statuses = [client.get(poll_path(generation_id)).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]


def test_scope_limits_a_fault(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    _fault(sim, "http_500", "create")
    assert client.get(poll_path(generation_id)).status_code == 200
    assert client.post(CREATE_PATH, json=create_body()).status_code == 500
    _fault(sim, "http_500", "poll")
    assert client.get(poll_path(generation_id)).status_code == 500
    assert client.post(CREATE_PATH, json=create_body()).status_code == 200
    _fault(sim, "http_500", "files")
    assert client.get(poll_path(generation_id)).status_code == 200


def test_the_first_fault_that_fires_wins(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(faults=[Fault(kind="http_429", first_n=1), Fault(kind="http_502", first_n=1)])
    statuses = [client.post(CREATE_PATH, json=create_body()).status_code for _ in range(3)]
    assert statuses == [429, 502, 200]


def test_rates_hit_about_that_fraction(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    sim.configure(faults=[Fault(kind="http_503", rate=0.3, scope="poll")])
    statuses = [client.get(poll_path(generation_id)).status_code for _ in range(100)]
    assert 15 <= statuses.count(503) <= 45
    assert statuses.count(503) + statuses.count(200) == 100
    assert sim.stats()["faults"] == statuses.count(503)


def test_unrelated_config_changes_keep_first_n_counts(client: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    sim.configure(faults=[Fault(kind="http_503", scope="poll", first_n=2)])
    assert client.get(poll_path(generation_id)).status_code == 503
    sim.configure(generation_seconds=1)
    assert client.get(poll_path(generation_id)).status_code == 503
    assert client.get(poll_path(generation_id)).status_code == 200
    sim.configure(faults=[Fault(kind="http_503", scope="poll", first_n=2)])  # set again: counts restart
    assert client.get(poll_path(generation_id)).status_code == 503


class _PlainSendSimulator(Simulator):
    """Hides uvicorn's ``send`` behind a plain function, as a middleware would."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def plain_send(message: Any) -> None:
            await send(message)

        await super().__call__(scope, receive, plain_send)


@pytest.mark.parametrize("kind", ["reset", "drop", "lost_create_answer"])
def test_without_the_transport_a_drop_is_still_a_protocol_error(kind: str) -> None:
    sim = _PlainSendSimulator(SimConfig(seed=1, faults=(Fault(kind=kind, scope="create"),)))
    with (
        SimulatorServer(simulator=sim) as server,
        httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=5) as client,
        pytest.raises(httpx.RemoteProtocolError, match="complete message body"),
    ):
        client.post(CREATE_PATH, json=create_body())
    assert sim.requests[-1].status is None
