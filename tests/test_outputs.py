"""Copying outputs to output_dir: checksummed while streaming, retried on CDN hiccups, never
outside the folder, and not downloaded again when an earlier copy is still complete."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_i2v import outputs
from airflow_provider_i2v.exceptions import I2VNonRetryableError, I2VTransientError
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.outputs import StoredFile, copy_outputs, output_name
from tests.http_server import Answer, scripted_server

SETTINGS = ConnectionSettings.from_connection(None, "k", {"timeout": 5})
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 400


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs, "_wait", lambda state: 0.01)


def test_size_and_sha256_describe_the_bytes_served(tmp_path: Path) -> None:
    with scripted_server(Answer(200, VIDEO)) as cdn:
        [stored] = copy_outputs([f"{cdn.url}/out/g1.mp4"], tmp_path, "g1", SETTINGS)
    assert stored.size == len(VIDEO)
    assert stored.sha256 == hashlib.sha256(VIDEO).hexdigest()
    assert stored.source_url == f"{cdn.url}/out/g1.mp4"
    assert stored.uri.endswith("/g1.mp4")
    assert (tmp_path / "g1.mp4").read_bytes() == VIDEO


@pytest.mark.parametrize("hiccup", [Answer(503, b"busy"), Answer(429, b"slow down", {"Retry-After": "0"})])
def test_a_cdn_429_or_5xx_is_retried_in_process(tmp_path: Path, hiccup: Answer) -> None:
    with scripted_server(hiccup, Answer(200, VIDEO)) as cdn:
        [stored] = copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
        assert len(cdn.requests) == 2
    assert stored.size == len(VIDEO)


def test_a_cdn_that_keeps_failing_is_a_transient_error_and_leaves_nothing(tmp_path: Path) -> None:
    with scripted_server(Answer(502, b"bad gateway")) as cdn, pytest.raises(I2VTransientError):
        copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_a_malformed_content_length_is_a_transient_error_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """h11 refuses such a header on a real socket; a proxy or another HTTP stack may not."""

    def cdn(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "12, 13"}, content=VIDEO[:12])

    mocked = httpx.Client(transport=httpx.MockTransport(cdn))
    monkeypatch.setattr(outputs, "download_client", lambda settings: mocked)
    with pytest.raises(I2VTransientError, match="malformed Content-Length"):
        copy_outputs(["https://cdn.example/g1.mp4"], tmp_path, "g1", SETTINGS)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad_id", ["../escape", "a/b", "..", ".hidden", "", "x y"])
def test_a_generation_id_that_could_leave_the_folder_never_names_a_file(tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(I2VNonRetryableError, match="cannot name a file"):
        copy_outputs(["https://cdn.example/x.mp4"], tmp_path / "videos", bad_id, SETTINGS)
    assert not (tmp_path / "escape.mp4").exists()


def test_the_suffix_comes_from_the_url_only_when_it_is_plain() -> None:
    assert output_name("g1", "https://c/x/g1.webm?sig=1", 0, 1) == "g1.webm"
    assert output_name("g1", "https://c/x/g1.mp4%2F..%2F", 0, 1) == "g1.mp4"
    assert output_name("g1", "https://c/x/noext", 1, 2) == "g1_2.mp4"


def test_an_earlier_complete_copy_is_not_downloaded_again(tmp_path: Path) -> None:
    with scripted_server(Answer(200, VIDEO)) as cdn:
        url = f"{cdn.url}/g1.mp4"
        [first] = copy_outputs([url], tmp_path, "g1", SETTINGS)
        [again] = copy_outputs([url], tmp_path, "g1", SETTINGS, known=[first])
        assert len(cdn.requests) == 1
    assert again == first


@pytest.mark.parametrize("damage", ["truncate", "alter"])
def test_a_damaged_earlier_copy_is_downloaded_again(tmp_path: Path, damage: str) -> None:
    with scripted_server(Answer(200, VIDEO)) as cdn:
        url = f"{cdn.url}/g1.mp4"
        [first] = copy_outputs([url], tmp_path, "g1", SETTINGS)
        path = tmp_path / "g1.mp4"
        path.write_bytes(VIDEO[:-1] if damage == "truncate" else b"X" + VIDEO[1:])
        [again] = copy_outputs([url], tmp_path, "g1", SETTINGS, known=[first])
        assert len(cdn.requests) == 2
    assert again == first
    assert path.read_bytes() == VIDEO


def test_stored_file_records_round_trip_and_bad_ones_are_ignored() -> None:
    record = StoredFile("file:///v/g1.mp4", 3, "ab" * 32, "https://c/g1.mp4")
    assert StoredFile.from_json(record.to_json()) == record
    bad: dict[str, Any] = {"uri": "x", "size": "many"}
    assert StoredFile.from_json(bad) is None


def test_copies_share_one_download_client_per_connection_options(tmp_path: Path) -> None:
    with scripted_server(Answer(200, VIDEO)) as cdn:
        for gid in ("g1", "g2", "g3"):
            copy_outputs([f"{cdn.url}/{gid}.mp4"], tmp_path, gid, SETTINGS)
    assert outputs.download_client(SETTINGS) is outputs.download_client(SETTINGS)
    other = ConnectionSettings.from_connection(None, "k", {"timeout": 7})
    assert outputs.download_client(other) is not outputs.download_client(SETTINGS)
