"""gzip-encoded answers (``gzip_answers``): only when asked for, and only to clients that accept it."""

from __future__ import annotations

import gzip
import json
import socket

import httpx
import pytest

from airflow_provider_i2v.protocol import CREATE_PATH, auth_header, poll_path
from airflow_provider_i2v.simulator import Fault, Simulator, SimulatorServer, file_path

from .helpers import API_KEY, create, create_body, poll


def _raw_get(server: SimulatorServer, path: str, accept_encoding: str | None) -> tuple[bytes, bytes]:
    """``(head, body)`` of a GET as the socket carries it: no client-side decoding at all."""
    host, port = server.host, server.port
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", f"Authorization: Bearer {API_KEY}"]
    if accept_encoding is not None:
        lines.append(f"Accept-Encoding: {accept_encoding}")
    request = ("\r\n".join([*lines, "Connection: close", "", ""])).encode()
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.lower(), body


def test_answers_are_plain_by_default(server: SimulatorServer, client: httpx.Client) -> None:
    generation_id = create(client)["id"]
    head, body = _raw_get(server, poll_path(generation_id), "gzip")
    assert b"content-encoding" not in head
    assert json.loads(body)["id"] == generation_id


def test_gzip_when_on_and_accepted(server: SimulatorServer, client: httpx.Client, sim: Simulator) -> None:
    sim.configure(gzip_answers=True)
    generation_id = create(client)["id"]
    head, body = _raw_get(server, poll_path(generation_id), "br, gzip;q=0.8")
    assert b"content-encoding: gzip" in head
    assert f"content-length: {len(body)}".encode() in head
    assert json.loads(gzip.decompress(body))["id"] == generation_id
    plain_head, plain = _raw_get(server, poll_path(generation_id), None)  # not accepted: plain
    assert b"content-encoding" not in plain_head
    assert json.loads(plain)["id"] == generation_id
    refused_head, _ = _raw_get(server, poll_path(generation_id), "gzip;q=0")
    assert b"content-encoding" not in refused_head


def test_httpx_reads_gzip_answers_and_errors(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(gzip_answers=True, generation_seconds=0)
    created = client.post(CREATE_PATH, json=create_body())
    assert created.headers["content-encoding"] == "gzip"
    assert poll(client, created.json()["id"])["status"] == "completed"
    missing = client.get(poll_path("nothing-here"))
    assert (missing.status_code, missing.headers["content-encoding"]) == (404, "gzip")
    assert missing.json()["message"]
    sim.configure(faults=[Fault("http_429", scope="poll")], error_body="message")
    throttled = client.get(poll_path(created.json()["id"]))
    assert (throttled.status_code, throttled.headers["content-encoding"]) == (429, "gzip")
    assert throttled.json() == {"message": "Rate limit exceeded"}


def test_files_are_never_gzip_encoded(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(gzip_answers=True, generation_seconds=0, file_size=10_000)
    generation_id = create(client)["id"]
    response = client.get(file_path(generation_id))
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == "10000"


@pytest.mark.parametrize("chunked", [True, False])
def test_a_gzip_huge_body_is_small_on_the_wire_and_huge_decoded(
    server: SimulatorServer, client: httpx.Client, sim: Simulator, chunked: bool
) -> None:
    generation_id = create(client)["id"]
    sim.configure(
        gzip_answers=True,
        faults=[Fault("huge_body", scope="poll")],
        huge_body_mib=4,
        huge_body_chunked=chunked,
    )
    with (
        httpx.Client(base_url=server.url, headers=auth_header(API_KEY), timeout=10) as reader,
        reader.stream("GET", poll_path(generation_id)) as response,
    ):
        assert response.headers["content-encoding"] == "gzip"
        assert ("content-length" in response.headers) is not chunked
        wire = sum(len(chunk) for chunk in response.iter_raw())
    assert wire < 64 * 1024  # what a cap on the *encoded* size would see
    decoded = client.get(poll_path(generation_id)).content
    assert len(decoded) == 4 * 1024 * 1024  # what a cap on the decoded size must stop
    assert json.loads(decoded)["id"] == generation_id
