"""The request record and the control plane, in-process and over HTTP; determinism."""

from __future__ import annotations

import httpx
import pytest

from airflow_provider_i2v.protocol import CREATE_PATH, auth_header, describe_image_reference, poll_path
from airflow_provider_i2v.simulator import Fault, SimConfig, Simulator, SimulatorServer, file_path
from airflow_provider_i2v.simulator.record import RECORDED_HEADERS

from .helpers import API_KEY, create, create_body, data_url, poll


def test_record_counts_in_process_and_over_http(
    client: httpx.Client, control: httpx.Client, sim: Simulator
) -> None:
    sim.configure(generation_seconds=0)
    generation_id = create(client)["id"]
    poll(client, generation_id)
    poll(client, generation_id)
    client.get(file_path(generation_id))
    client.get(poll_path("unknown"))
    sim.configure(faults=[Fault(kind="lost_create_answer")])
    with pytest.raises(httpx.ReadError):
        client.post(CREATE_PATH, json=create_body())

    assert [(r.endpoint, r.status, r.fault) for r in sim.requests] == [
        ("create", 200, None),
        ("poll", 200, None),
        ("poll", 200, None),
        ("files", 200, None),
        ("poll", 404, None),
        ("create", None, "lost_create_answer"),
    ]
    assert [r.seq for r in sim.requests] == [1, 2, 3, 4, 5, 6]
    assert sim.creations == 2
    expected = {
        "requests": 6,
        "creates": 2,
        "creates_accepted": 2,
        "creates_answered": 1,
        "polls": 3,
        "polls_answered": 2,
        "file_requests": 1,
        "file_downloads": 1,
        "faults": 1,
        "faults_by_kind": {"lost_create_answer": 1},
        "statuses": {"200": 4, "404": 1, "none": 1},
        "generations": 2,
        "seed": 7,
    }
    assert sim.stats() == expected
    assert control.get("/_sim/stats").json() == expected  # control requests are not recorded
    records = control.get("/_sim/requests").json()["requests"]
    assert [r["endpoint"] for r in records] == ["create", "poll", "poll", "files", "poll", "create"]
    assert records[0]["generation_id"] == generation_id
    assert records[0]["client"].startswith("127.0.0.1:")
    assert records[0]["user_agent"].startswith("python-httpx/")
    assert [r["seq"] for r in control.get("/_sim/requests", params={"since": 4}).json()["requests"]] == [5, 6]
    listed = control.get("/_sim/generations").json()["generations"]
    assert [g["id"] for g in listed] == sim.generation_ids
    assert listed[0]["polls"] == 2
    assert listed[0]["state"] == "completed"


def test_the_key_is_never_recorded(client: httpx.Client, control: httpx.Client, sim: Simulator) -> None:
    create(client)
    assert API_KEY not in repr(sim.requests)
    assert API_KEY not in control.get("/_sim/requests").text


def test_reset_over_http(client: httpx.Client, control: httpx.Client, sim: Simulator) -> None:
    generation_id = create(client)["id"]
    stats = control.post("/_sim/reset").json()
    assert stats["requests"] == 0
    assert stats["generations"] == 0
    assert sim.creations == 0
    assert sim.requests == []
    assert client.get(poll_path(generation_id)).status_code == 404


def test_config_over_http(client: httpx.Client, control: httpx.Client, sim: Simulator) -> None:
    config = control.get("/_sim/config").json()
    assert config["generation_seconds"] == 0.3
    assert config["faults"] == []
    answer = control.post(
        "/_sim/config",
        json={"completed_status": "success", "faults": [{"kind": "503", "scope": "poll", "first_n": 1}]},
    )
    assert answer.status_code == 200
    assert answer.json()["faults"] == [{"kind": "http_503", "rate": 1.0, "scope": "poll", "first_n": 1}]
    assert sim.config.completed_status == "success"
    generation_id = create(client)["id"]
    assert client.get(poll_path(generation_id)).status_code == 503
    assert client.get(poll_path(generation_id)).status_code == 200
    # What GET serves, POST accepts back.
    assert control.post("/_sim/config", json=control.get("/_sim/config").json()).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"no_such_knob": 1},
        {"generation_seconds": -1},
        {"faults": [{"kind": "meltdown"}]},
        {"faults": [{"kind": "429", "scope": "everywhere"}]},
        {"error_shape": "xml"},
        [],
    ],
)
def test_bad_config_is_refused(control: httpx.Client, sim: Simulator, body: object) -> None:
    before = sim.config
    response = control.post("/_sim/config", json=body)
    assert response.status_code == 400
    assert response.json()["message"]
    assert sim.config is before


def test_advance_and_health_over_http(client: httpx.Client, control: httpx.Client, sim: Simulator) -> None:
    assert control.get("/_sim/health").json() == {"ok": True}
    sim.configure(generation_seconds=500)
    generation_id = create(client)["id"]
    assert control.post("/_sim/advance", json={"seconds": 500}).json() == {"offset": 500.0}
    assert poll(client, generation_id)["status"] == "completed"
    assert control.post("/_sim/advance", json={"seconds": "soon"}).status_code == 400
    assert control.get("/_sim/nothing").status_code == 404


def _run(seed: int) -> tuple[list[str], list[tuple[int | None, str | None]]]:
    """Creates and polls under a fixed seed with random faults and failures."""
    config = SimConfig(
        seed=seed,
        generation_seconds=0,
        fail_rate=0.3,
        faults=(Fault(kind="http_503", rate=0.2), Fault(kind="http_429", rate=0.2, scope="poll")),
    )
    with (
        SimulatorServer(config) as server,
        httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=5) as client,
    ):
        for _ in range(15):
            response = client.post(CREATE_PATH, json=create_body())
            if response.status_code == 200:
                client.get(poll_path(response.json()["id"]))
        sim = server.simulator
        states = [g.to_dict(sim.clock())["fail_code"] or "ok" for g in sim.generations]
        return sim.generation_ids + states, [(r.status, r.fault) for r in sim.requests]


def test_a_seed_makes_a_run_reproducible() -> None:
    first, second, other = _run(11), _run(11), _run(12)
    assert first == second
    assert first[0] != other[0]
    statuses = {status for status, _ in first[1]}
    assert {200, 503} <= statuses  # the run did exercise faults


def test_without_a_seed_runs_differ() -> None:
    one, two = Simulator(SimConfig()), Simulator(SimConfig())
    assert one.seed != two.seed


def test_a_create_is_recorded_as_sent_without_defaults_or_image_bytes(
    client: httpx.Client, sim: Simulator
) -> None:
    image = data_url()
    body = {
        "model": "minimax_i2v_01_live",
        "input": [{"params": {"first_frame_image": image, "prompt": "hi"}}],
    }
    client.post(CREATE_PATH, json=body, headers={"X-Source": "cli", "Accept-Encoding": "gzip"})
    record = sim.requests[-1]
    assert record.params == {"first_frame_image": describe_image_reference(image), "prompt": "hi"}
    assert "duration" not in record.params  # the gateway's default is not what was sent
    explicit = create_body(duration=6, prompt_optimizer=False)  # every parameter, defaults included
    client.post(CREATE_PATH, json=explicit)
    assert sim.requests[-1].params == explicit["input"][0]["params"]


def test_the_headers_that_matter_are_recorded_and_credentials_never(
    client: httpx.Client, control: httpx.Client, sim: Simulator
) -> None:
    headers = {"X-Source": "cli", "Accept": "application/json", "Cookie": "session=secret-cookie"}
    generation_id = client.post(CREATE_PATH, json=create_body(), headers=headers).json()["id"]
    client.get(poll_path(generation_id), headers={"Proxy-Authorization": "Basic c2VjcmV0"})
    create_record, poll_record = sim.requests
    assert create_record.headers["x-source"] == "cli"
    assert create_record.headers["accept"] == "application/json"
    assert create_record.headers["content-type"] == "application/json"
    assert create_record.headers["user-agent"].startswith("python-httpx/")
    assert "accept-encoding" in create_record.headers
    assert poll_record.headers["user-agent"] == create_record.user_agent
    everything = repr(sim.requests) + control.get("/_sim/requests").text
    for secret in (API_KEY, "secret-cookie", "c2VjcmV0"):
        assert secret not in everything
    for record in sim.requests:
        assert set(record.headers) <= set(RECORDED_HEADERS)
        assert "authorization" not in record.headers
