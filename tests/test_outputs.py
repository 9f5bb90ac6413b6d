"""Copying outputs to output_dir: checksummed while streaming, retried on CDN hiccups, never
outside the folder, not downloaded again when an earlier copy is still complete, and never
from a private address, past a byte cap or a deadline unless the connection allows it.

The address rule is tested with a fake resolver: no test sends anything to an address
other than loopback."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_i2v import outputs
from airflow_provider_i2v.exceptions import I2VError, I2VNonRetryableError, I2VTransientError
from airflow_provider_i2v.hooks import clients
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.hooks.transport import reset_shared_state
from airflow_provider_i2v.outputs import StoredFile, copy_outputs, output_name
from tests.http_server import Answer, scripted_server

FAST = {"timeout": 5, "backoff_initial": 0.01, "backoff_max": 0.05}
#: The loopback test servers need the switch, as the simulator does.
SETTINGS = ConnectionSettings.from_connection(None, "k", {**FAST, "allow_private_outputs": True})
STRICT = ConnectionSettings.from_connection(None, "k", FAST)
VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 400


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    reset_shared_state()
    yield
    reset_shared_state()


def fake_resolver(table: dict[str, str]) -> outputs.Resolver:
    """Names resolve as ``table`` says, others not at all (no DNS query leaves the machine)."""

    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"fake resolver: {host} unknown")
        return [table[host]]

    return resolve


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
    monkeypatch.setattr(clients, "fetch_client", lambda settings: mocked)
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


def test_copies_share_one_client_per_connection_options(tmp_path: Path) -> None:
    with scripted_server(Answer(200, VIDEO)) as cdn:
        for gid in ("g1", "g2", "g3"):
            copy_outputs([f"{cdn.url}/{gid}.mp4"], tmp_path, gid, SETTINGS)
    assert clients.fetch_client(SETTINGS) is clients.fetch_client(SETTINGS)
    other = ConnectionSettings.from_connection(None, "k", {"timeout": 7})
    assert clients.fetch_client(other) is not clients.fetch_client(SETTINGS)


def test_an_earlier_copy_is_kept_when_the_retry_gets_a_new_signed_link(tmp_path: Path) -> None:
    """A retry polls again and gets new signed links to the same files."""
    with scripted_server(Answer(200, VIDEO)) as cdn:
        [first] = copy_outputs([f"{cdn.url}/g1.mp4?sig=one"], tmp_path, "g1", SETTINGS)
        [again] = copy_outputs([f"{cdn.url}/g1.mp4?sig=two"], tmp_path, "g1", SETTINGS, known=[first])
        assert len(cdn.requests) == 1
    assert again == first


# --- untrusted URLs ---------------------------------------------------------------------


def test_a_loopback_output_is_refused_unless_the_connection_allows_it(tmp_path: Path) -> None:
    with scripted_server(Answer(200, VIDEO)) as cdn:
        with pytest.raises(I2VNonRetryableError, match="allow_private_outputs=true") as caught:
            copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", STRICT)
        assert cdn.requests == []  # refused before anything was sent
    assert caught.value.generation_id == "g1"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.7",
        "172.16.5.4",
        "192.168.1.20",
        "169.254.169.254",  # a cloud metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "127.0.0.2",
        "::1",
        "fe80::1",
        "fd00::5",
        "::ffff:127.0.0.1",
    ],
)
def test_a_name_that_resolves_to_a_private_address_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    monkeypatch.setattr(outputs, "resolve", fake_resolver({"cdn.example.test": address}))
    with pytest.raises(I2VNonRetryableError, match=f"is {address}, a loopback, private"):
        copy_outputs(["https://cdn.example.test/g1.mp4"], tmp_path, "g1", STRICT)


def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CDN's name resolves (in this fake) to a public address; it redirects to the
    metadata service, whose name resolves to a link-local one."""
    table = {"localhost": "93.184.216.34", "metadata.internal": "169.254.169.254"}
    monkeypatch.setattr(outputs, "resolve", fake_resolver(table))
    with scripted_server(Answer(302, headers={"Location": "http://metadata.internal/latest"})) as cdn:
        url = f"http://localhost:{cdn.server_address[1]}/g1.mp4"
        with pytest.raises(I2VNonRetryableError, match=r"'metadata\.internal' is 169\.254\.169\.254"):
            copy_outputs([url], tmp_path, "g1", STRICT)
        assert cdn.requests == ["/g1.mp4"]


def test_redirects_are_followed_within_the_limit(tmp_path: Path) -> None:
    hops = [Answer(302, headers={"Location": f"/hop{i}"}) for i in range(clients.MAX_REDIRECTS)]
    with scripted_server(*hops, Answer(200, VIDEO)) as cdn:
        [stored] = copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
    assert stored.size == len(VIDEO)
    with scripted_server(Answer(302, headers={"Location": "/again"})) as loop:
        with pytest.raises(I2VNonRetryableError, match="more than 5 redirects"):
            copy_outputs([f"{loop.url}/g1.mp4"], tmp_path / "loop", "g1", SETTINGS)
        assert len(loop.requests) == clients.MAX_REDIRECTS + 1  # not retried either


def test_a_redirect_to_another_scheme_is_refused(tmp_path: Path) -> None:
    with (
        scripted_server(Answer(302, headers={"Location": "file:///etc/passwd"})) as cdn,
        pytest.raises(I2VNonRetryableError, match="not http"),
    ):
        copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)


@pytest.mark.parametrize("status", [403, 404, 410])
def test_a_refused_link_is_not_retried(tmp_path: Path, status: int) -> None:
    with scripted_server(Answer(status, b"<html>gone</html>")) as cdn:
        with pytest.raises(I2VNonRetryableError, match=f"HTTP {status}"):
            copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
        assert len(cdn.requests) == 1


def test_an_announced_size_over_the_cap_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outputs, "MAX_OUTPUT_BYTES", len(VIDEO) - 1)
    with (
        scripted_server(Answer(200, VIDEO)) as cdn,
        pytest.raises(I2VNonRetryableError, match=f"is {len(VIDEO):,} bytes"),
    ):
        copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_a_streamed_body_over_the_cap_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Content-Length (chunked): the cap applies to what arrives."""
    served: list[int] = []

    def endless() -> Iterator[bytes]:
        for _ in range(1000):
            served.append(1)
            yield b"\x00" * 65536

    def cdn(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    monkeypatch.setattr(outputs, "MAX_OUTPUT_BYTES", 200_000)
    monkeypatch.setattr(
        clients, "fetch_client", lambda settings: httpx.Client(transport=httpx.MockTransport(cdn))
    )
    with pytest.raises(I2VNonRetryableError, match="over 200,000 bytes"):
        copy_outputs(["https://cdn.example/g1.mp4"], tmp_path, "g1", SETTINGS)
    assert len(served) < 1000
    assert list(tmp_path.iterdir()) == []


def test_the_whole_copy_is_bounded_in_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs, "DOWNLOAD_SECONDS", 0.0)  # the deadline has passed at the first chunk
    with scripted_server(Answer(200, VIDEO)) as cdn:
        with pytest.raises(I2VTransientError, match="took longer than 0 s"):
            copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
        assert len(cdn.requests) == 1  # no further attempt past the deadline
    assert list(tmp_path.iterdir()) == []


def test_retry_after_follows_the_hooks_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One policy: a CDN's Retry-After is honoured as the gateway's is (up to 300 s, not 60)."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with scripted_server(Answer(503, b"busy", {"Retry-After": "120"}), Answer(200, VIDEO)) as cdn:
        copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
    assert slept == [120.0]


def test_the_retry_budget_is_the_connections(tmp_path: Path) -> None:
    settings = ConnectionSettings.from_connection(
        None, "k", {**FAST, "allow_private_outputs": True, "max_retries": 1}
    )
    with scripted_server(Answer(503, b"busy")) as cdn:
        with pytest.raises(I2VTransientError, match="HTTP 503"):
            copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", settings)
        assert len(cdn.requests) == 2


def test_a_storage_error_is_a_provider_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    with (
        scripted_server(Answer(200, VIDEO)) as cdn,
        pytest.raises(I2VError, match="could not be copied") as caught,
    ):
        copy_outputs([f"{cdn.url}/g1.mp4"], blocker / "videos", "g1", SETTINGS)
    assert isinstance(caught.value, I2VTransientError)
    assert caught.value.generation_id == "g1"


# --- proxies ------------------------------------------------------------------------------


def test_the_environments_proxy_carries_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny proxy on loopback answers for the CDN and counts what passes through it."""
    with scripted_server(Answer(200, VIDEO)) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setattr(outputs, "resolve", fake_resolver({}))  # the worker has no DNS
        [stored] = copy_outputs(["http://cdn.example.test/v/g1.mp4"], tmp_path, "g1", STRICT)
        assert proxy.requests == ["http://cdn.example.test/v/g1.mp4"]
    assert stored.size == len(VIDEO)


def test_the_connections_proxy_wins_over_the_environments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scripted_server(Answer(200, VIDEO)) as chosen, scripted_server(Answer(200, VIDEO)) as ignored:
        monkeypatch.setenv("HTTP_PROXY", ignored.url)
        monkeypatch.setattr(outputs, "resolve", fake_resolver({}))
        settings = ConnectionSettings.from_connection(None, "k", {**FAST, "proxy": chosen.url})
        copy_outputs(["http://cdn.example.test/g1.mp4"], tmp_path, "g1", settings)
        assert (len(chosen.requests), len(ignored.requests)) == (1, 0)


def test_loopback_never_goes_through_the_environments_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scripted_server(Answer(200, VIDEO)) as cdn, scripted_server(Answer(502, b"")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        copy_outputs([f"{cdn.url}/g1.mp4"], tmp_path, "g1", SETTINGS)
        assert (len(cdn.requests), len(proxy.requests)) == (1, 0)
