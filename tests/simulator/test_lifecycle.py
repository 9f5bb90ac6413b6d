"""The contract's happy path over real HTTP: auth, create, poll with progress, files."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from airflow_provider_i2v.protocol import (
    CREATE_PATH,
    GenerationStatus,
    auth_header,
    cost_of,
    parse_created_at,
    parse_generation,
    poll_path,
)
from airflow_provider_i2v.simulator import SimConfig, Simulator, SimulatorServer, file_path

from .helpers import API_KEY, create, create_body, poll

ID_PATTERN = re.compile(r"[a-z0-9]{20}")


# ----------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}, {"Authorization": "sk-no-scheme"}],
    ids=["none", "basic", "empty-bearer", "no-scheme"],
)
def test_create_and_poll_without_a_bearer_key_are_401(
    server: SimulatorServer, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as anonymous:
        created = anonymous.post(CREATE_PATH, json=create_body())
        polled = anonymous.get(poll_path("a" * 20))
    assert created.status_code == 401
    assert polled.status_code == 401
    assert created.json() == {"message": "API key is missing or invalid"}
    assert server.simulator.creations == 0


def test_a_fixed_key_set_refuses_other_keys(server: SimulatorServer, sim: Simulator) -> None:
    sim.configure(api_keys=["right-key"])
    with httpx.Client(base_url=server.url, headers=auth_header("wrong-key"), timeout=5) as wrong:
        assert wrong.post(CREATE_PATH, json=create_body()).status_code == 401
    with httpx.Client(base_url=server.url, headers=auth_header("right-key"), timeout=5) as right:
        generation_id = create(right)["id"]
        with httpx.Client(base_url=server.url, headers=auth_header("wrong-key"), timeout=5) as wrong:
            assert wrong.get(poll_path(generation_id)).status_code == 401
        assert right.get(poll_path(generation_id)).status_code == 200
    assert sim.creations == 1


# ----------------------------------------------------------------------------- life cycle


def test_create_answers_the_contract_shape(client: httpx.Client, sim: Simulator) -> None:
    before = time.time()
    answer = create(client)
    assert set(answer) == {"id", "status", "model", "created_at"}
    assert ID_PATTERN.fullmatch(answer["id"])
    assert answer["status"] == "in_progress"
    assert answer["model"] == "minimax_i2v_01_live"
    assert isinstance(answer["created_at"], int)
    assert int(before) <= answer["created_at"] <= time.time()
    assert sim.generation_ids == [answer["id"]]


def test_a_generation_runs_with_growing_progress_then_completes(
    server: SimulatorServer, client: httpx.Client, sim: Simulator
) -> None:
    sim.configure(generation_seconds=100)
    generation_id = create(client)["id"]
    first = poll(client, generation_id)
    sim.advance(30)
    second = poll(client, generation_id)
    sim.advance(40)
    third = poll(client, generation_id)
    for answer in (first, second, third):
        assert answer["status"] == "in_progress"
        assert "output" not in answer
        assert "usage" not in answer
    assert 0 <= first["progress"] < 0.05
    assert 0.29 <= second["progress"] < 0.35
    assert 0.69 <= third["progress"] < 0.75
    sim.advance(31)
    done = poll(client, generation_id)
    assert done["status"] == "completed"
    assert done["progress"] == 1.0
    state = parse_generation(done)
    assert state.status is GenerationStatus.COMPLETED
    assert state.video_urls == [server.url + file_path(generation_id)]
    assert done["usage"] == {"cost": "0.2800", "discount": 0}
    assert state.cost is not None
    assert str(state.cost) == "0.2800"
    assert set(done["metadata"]) == {"in_queue_at", "completed_at"}
    assert done["metadata"]["completed_at"] - done["metadata"]["in_queue_at"] == pytest.approx(100, abs=0.01)


def test_completion_is_time_based(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=100)
    generation_id = create(client)["id"]
    assert poll(client, generation_id)["status"] == "in_progress"
    sim.advance(90)  # the simulator's clock, not a sleep
    assert poll(client, generation_id)["status"] == "in_progress"
    sim.advance(11)
    assert poll(client, generation_id)["status"] == "completed"


def test_generation_seconds_is_fixed_at_creation(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=0)
    quick = create(client)["id"]
    sim.configure(generation_seconds=1000)
    slow = create(client)["id"]
    assert poll(client, quick)["status"] == "completed"
    assert poll(client, slow)["status"] == "in_progress"


def test_unknown_generation_is_404(client: httpx.Client, sim: Simulator) -> None:
    response = client.get(poll_path("doesnotexist00000000"))
    assert response.status_code == 404
    assert "doesnotexist00000000" in response.json()["message"]
    assert sim.requests[-1].status == 404


def test_wrong_method_and_unknown_path(client: httpx.Client) -> None:
    assert client.get(CREATE_PATH).status_code == 405
    assert client.get("/model/v2/elsewhere").status_code == 404


def test_cost_and_extra_usage_keys_are_configurable(client: httpx.Client, sim: Simulator) -> None:
    for cost, expected in (("1.5000", "1.5000"), (0.28, "0.28"), ("", None)):
        sim.configure(generation_seconds=0, cost=cost, usage_extra={"quantity": 1, "unit_price": "0.28"})
        answer = poll(client, create(client)["id"])
        assert answer["usage"]["cost"] == cost
        assert answer["usage"]["quantity"] == 1
        cost_seen = cost_of(answer["usage"])
        assert (None if cost_seen is None else str(cost_seen)) == expected


def test_created_at_in_milliseconds(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(created_at_unit="milliseconds")
    answer = create(client)
    assert answer["created_at"] > 100_000_000_000
    created = parse_created_at(answer["created_at"])
    assert created is not None
    assert abs(created - time.time()) < 5
    assert poll(client, answer["id"])["created_at"] == answer["created_at"]


def test_progress_can_be_left_out(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(report_progress=False, generation_seconds=10)
    generation_id = create(client)["id"]
    assert "progress" not in poll(client, generation_id)
    sim.advance(10)
    done = poll(client, generation_id)
    assert done["status"] == "completed"
    assert "progress" not in done


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("empty", []), ("empty_content", [{"content": []}])],
    ids=["empty", "empty-content"],
)
def test_empty_outputs(client: httpx.Client, sim: Simulator, mode: str, expected: list[object]) -> None:
    sim.configure(generation_seconds=0, output_mode=mode)
    answer = poll(client, create(client)["id"])
    assert answer["status"] == "completed"
    assert answer["output"] == expected
    assert parse_generation(answer).video_urls == []


def test_output_extra_keys(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=0, output_extra={"duration": "6", "jobId": "job-1", "id": 42})
    answer = poll(client, create(client)["id"])
    entry = answer["output"][0]["content"][0]
    assert entry["duration"] == "6"
    assert entry["jobId"] == "job-1"
    assert entry["id"] == 42
    assert entry["type"] == "video"
    assert entry["url"].endswith(".mp4")


# ----------------------------------------------------------------------------- files


def test_output_file_is_served_with_its_length(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=0, file_size=300_000)
    generation_id = create(client)["id"]
    url = poll(client, generation_id)["output"][0]["content"][0]["url"]
    with httpx.Client(timeout=5) as anonymous:  # signed CDN links need no key
        response = anonymous.get(url)
        head = anonymous.head(url)
        again = anonymous.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == "300000"
    assert len(response.content) == 300_000
    assert response.content[4:8] == b"ftyp"
    assert generation_id.encode() in response.content[:100]
    assert again.content == response.content
    assert head.status_code == 200
    assert head.headers["content-length"] == "300000"
    assert head.content == b""
    assert sim.stats()["file_downloads"] == 2
    assert sim.stats()["file_requests"] == 3


def test_files_differ_between_generations_and_default_to_256_kib(
    client: httpx.Client, sim: Simulator
) -> None:
    sim.configure(generation_seconds=0)
    first, second = create(client)["id"], create(client)["id"]
    one, two = client.get(file_path(first)), client.get(file_path(second))
    assert len(one.content) == len(two.content) == 256 * 1024
    assert one.content != two.content


def test_files_of_running_or_unknown_generations_are_404(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=100)
    generation_id = create(client)["id"]
    assert client.get(file_path(generation_id)).status_code == 404
    assert client.get(file_path("nope")).status_code == 404
    sim.advance(100)
    assert client.get(file_path(generation_id)).status_code == 200


def test_output_url_follows_the_host_the_client_used(server: SimulatorServer, sim: Simulator) -> None:
    sim.configure(generation_seconds=0)
    headers = {**auth_header(API_KEY), "Host": "sim.example:9999"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=5) as client:
        answer = poll(client, create(client)["id"])
    assert answer["output"][0]["content"][0]["url"] == f"http://sim.example:9999{file_path(answer['id'])}"
    sim.configure(public_url="https://cdn.example.com/base/")
    with httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=5) as client:
        answer = poll(client, create(client)["id"])
    assert (
        answer["output"][0]["content"][0]["url"] == f"https://cdn.example.com/base{file_path(answer['id'])}"
    )


def test_reset_with_a_config_starts_over(client: httpx.Client, sim: Simulator) -> None:
    create(client)
    sim.reset(SimConfig(seed=7, running_status="pending"))
    assert sim.creations == 0
    assert sim.requests == []
    assert create(client)["status"] == "pending"
