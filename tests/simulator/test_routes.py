"""Routing: one pure function decides what a request is, for the record, the faults and the handlers."""

from __future__ import annotations

import pytest

from airflow_provider_i2v.protocol import CREATE_PATH, poll_path
from airflow_provider_i2v.simulator import Endpoint, file_path
from airflow_provider_i2v.simulator.routes import route


@pytest.mark.parametrize(
    ("method", "path", "endpoint", "generation_id", "known"),
    [
        ("POST", CREATE_PATH, Endpoint.CREATE, None, True),
        ("GET", CREATE_PATH, Endpoint.OTHER, None, True),  # 405
        ("GET", poll_path("abc"), Endpoint.POLL, "abc", True),
        ("DELETE", poll_path("abc"), Endpoint.OTHER, "abc", True),  # 405
        ("GET", file_path("abc"), Endpoint.FILES, "abc", False),
        ("HEAD", file_path("abc"), Endpoint.FILES, "abc", False),
        ("POST", file_path("abc"), Endpoint.OTHER, None, False),  # 404, as a CDN says
        ("GET", "/model/v2/elsewhere", Endpoint.OTHER, None, False),
    ],
)
def test_route(method: str, path: str, endpoint: Endpoint, generation_id: str | None, known: bool) -> None:
    where = route(method, path)
    assert (where.endpoint, where.generation_id, where.known_path) == (endpoint, generation_id, known)
    assert where.endpoint == endpoint.value  # a StrEnum: the record's old string spellings hold
