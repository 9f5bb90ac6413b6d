"""An ``http(s)`` first_frame_image is checked before paying, against a small image server on
loopback: ranges honoured and ignored, every failure kind, redirects, slow servers, the size
limit, proxies from the environment, the batch check, and the URL sent to the simulator
unchanged. Nothing leaves the machine: a name other than loopback reaches the tiny proxy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_i2v.exceptions import I2VInvalidRequestError, I2VTransientError
from airflow_provider_i2v.hooks.clients import MAX_REDIRECTS
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.hooks.transport import reset_shared_state
from airflow_provider_i2v.images import check_image_urls, prepare_first_frame_image
from airflow_provider_i2v.images._remote import HEAD_BYTES
from airflow_provider_i2v.protocol import MINIMAX_I2V_01_LIVE
from tests.http_server import Resource, counting_proxy, image_server
from tests.images.factories import image_bytes, jpeg_with_segment, padded

SPEC = MINIMAX_I2V_01_LIVE
FIELD = "first_frame_image"
SETTINGS = ConnectionSettings.from_connection(None, "k", {"timeout": 5})
#: Incompressible, so the file is well over the bytes a ranged read asks for.
BIG_JPEG = image_bytes(1280, 720, "JPEG", noise=True, quality=95)
PNG = image_bytes(640, 360, "PNG")
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    reset_shared_state()
    yield
    reset_shared_state()


def check(url: str, **kwargs: Any) -> Any:
    kwargs.setdefault("settings", SETTINGS)
    return prepare_first_frame_image(url, SPEC, **kwargs)


def refused(url: str, *fragments: str, **kwargs: Any) -> str:
    with pytest.raises(I2VInvalidRequestError) as caught:
        check(url, **kwargs)
    text = str(caught.value)
    for fragment in fragments:
        assert fragment in text
    return text


def transient(url: str, *fragments: str, **kwargs: Any) -> str:
    with pytest.raises(I2VTransientError) as caught:
        check(url, **kwargs)
    assert not isinstance(caught.value, I2VInvalidRequestError)
    text = str(caught.value)
    for fragment in fragments:
        assert fragment in text
    return text


# --- accepted -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "media_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
def test_a_ranged_read_of_the_first_bytes_is_enough(image_format: str, media_type: str) -> None:
    body = image_bytes(1280, 720, image_format, noise=True)
    assert len(body) > 4 * HEAD_BYTES
    with image_server({"/a": Resource(body, media_type)}) as server:
        url = f"{server.url}/a?sig=s3cret"
        prepared = check(url)
        ranged = ("/a?sig=s3cret", f"bytes=0-{HEAD_BYTES - 1}")
        if image_format == "WEBP":  # Pillow reads a whole WebP to learn its size: read whole
            assert server.requests == [ranged, ("/a?sig=s3cret", None)]
        else:
            assert server.requests == [ranged]
            assert server.bytes_sent == HEAD_BYTES
    assert prepared.url == url  # sent to the gateway unchanged, not re-uploaded
    assert (prepared.kind, prepared.media_type) == ("url", media_type)
    assert (prepared.size_bytes, prepared.width, prepared.height) == (len(body), 1280, 720)
    assert "s3cret" not in prepared.describe()
    read = HEAD_BYTES if image_format != "WEBP" else len(body)
    assert prepared.describe().endswith(f"1280x720; checked from its first {read / 1000:.1f} kB)")


def test_a_server_that_ignores_ranges_is_read_whole_within_the_limit() -> None:
    with image_server({"/a.jpg": Resource(BIG_JPEG, ranges=False)}) as server:
        prepared = check(f"{server.url}/a.jpg")
        assert len(server.requests) == 1
    assert (prepared.size_bytes, prepared.width) == (len(BIG_JPEG), 1280)


def test_a_read_whole_image_gets_the_integrity_walk_of_a_file() -> None:
    truncated = BIG_JPEG[: len(BIG_JPEG) // 2]
    with image_server({"/a.jpg": Resource(truncated, ranges=False)}) as server:
        refused(f"{server.url}/a.jpg", "is a corrupt or truncated JPEG image")


def test_a_small_image_arrives_whole_in_its_first_bytes_and_is_fully_checked() -> None:
    with image_server(
        {"/a.png": Resource(PNG, "image/png"), "/cut.png": Resource(PNG[:-30], "image/png")}
    ) as s:
        assert check(f"{s.url}/a.png").size_bytes == len(PNG)
        refused(f"{s.url}/cut.png", "is a corrupt or truncated PNG image")


def test_a_header_beyond_the_first_bytes_falls_back_to_a_bounded_full_read() -> None:
    """A large embedded profile pushes a JPEG's size marker past the ranged read."""
    payload = b"\x00" * 65_000
    body = jpeg_with_segment(jpeg_with_segment(BIG_JPEG, 0xE2, payload), 0xE3, payload)
    with image_server({"/a.jpg": Resource(body)}) as server:
        prepared = check(f"{server.url}/a.jpg")
        assert [r for _, r in server.requests] == [f"bytes=0-{HEAD_BYTES - 1}", None]
    assert (prepared.size_bytes, prepared.width) == (len(body), 1280)


def test_an_unknown_total_size_falls_back_to_a_bounded_full_read() -> None:
    with image_server({"/a.jpg": Resource(BIG_JPEG, total_unknown=True)}) as server:
        assert check(f"{server.url}/a.jpg").size_bytes == len(BIG_JPEG)
        assert len(server.requests) == 2


def test_octet_stream_and_no_content_type_let_the_bytes_decide() -> None:
    resources = {"/o": Resource(PNG, "application/octet-stream"), "/n": Resource(PNG, None)}
    with image_server(resources) as server:
        assert check(f"{server.url}/o").media_type == "image/png"
        assert check(f"{server.url}/n").media_type == "image/png"


def test_redirects_are_followed_within_the_limit_and_the_url_is_kept() -> None:
    hops = {f"/r{i}": Resource(status=302, headers={"Location": f"/r{i + 1}"}) for i in range(MAX_REDIRECTS)}
    hops[f"/r{MAX_REDIRECTS}"] = Resource(PNG, "image/png")
    with image_server(hops) as server:
        prepared = check(f"{server.url}/r0")
    assert prepared.url.endswith("/r0")
    assert prepared.width == 640


# --- refused: the same checks and messages as for a file -----------------------------------


def same_as_file(tmp_path: Path, body: bytes, url_text: str) -> None:
    """The message for a URL is the file's, with the URL where the path was."""
    path = tmp_path / "same"
    path.write_bytes(body)
    with pytest.raises(I2VInvalidRequestError) as for_file:
        prepare_first_frame_image(str(path))
    assert str(for_file.value).split(str(path), 1)[1] in url_text


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: image_bytes(640, 200), "short side of 200 px is not greater than 300 px"),
        (lambda: image_bytes(1600, 320), "aspect ratio 5 (= 5:1) is outside"),
        (lambda: image_bytes(640, 480, "GIF"), "is a GIF image; allowed formats: JPEG, PNG, WEBP"),
        (lambda: image_bytes(640, 480, "BMP"), "is a BMP image"),
    ],
)
def test_an_image_the_gateway_would_refuse_is_refused_as_a_file_is(
    tmp_path: Path, make: Any, fragment: str
) -> None:
    body = make()
    with image_server({"/x": Resource(body, "image/whatever")}) as server:
        text = refused(f"{server.url}/x", FIELD, f"http(s) URL {server.url}/x", fragment)
    same_as_file(tmp_path, body, text)


@pytest.mark.parametrize("ranges", [True, False], ids=["ranges", "no-ranges"])
def test_an_image_of_20_mb_plus_one_byte_is_refused_from_its_announced_size(
    tmp_path: Path, ranges: bool
) -> None:
    body = padded(image_bytes(640, 360, "JPEG"), 20_000_001)
    with image_server({"/big.jpg": Resource(body, ranges=ranges)}) as server:
        text = refused(f"{server.url}/big.jpg", "is 20,000,001 bytes (20.0 MB)", "less than 20,000,000 bytes")
        if ranges:
            assert server.bytes_sent <= HEAD_BYTES
    same_as_file(tmp_path, body, text)


def test_an_unannounced_image_over_the_limit_stops_being_read_at_the_limit() -> None:
    body = padded(image_bytes(640, 360, "JPEG"), 20_000_001)
    with image_server({"/big.jpg": Resource(body, ranges=False, unsized=True)}) as server:
        refused(f"{server.url}/big.jpg", "is at least 20,000,000 bytes")


@pytest.mark.parametrize("status", [404, 410])
def test_a_missing_image_is_refused_before_paying(status: int) -> None:
    with image_server({"/gone.jpg": Resource(b"gone", "text/plain", status=status)}) as server:
        refused(f"{server.url}/gone.jpg", f"does not exist (HTTP {status})")
        assert len(server.requests) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_an_image_the_worker_may_not_read_names_the_switch(status: int) -> None:
    with image_server({"/p.jpg": Resource(b"denied", "text/plain", status=status)}) as server:
        refused(f"{server.url}/p.jpg", f"HTTP {status}", "check_image_url=False")


def test_an_html_page_is_refused_by_its_content_type() -> None:
    with image_server({"/page": Resource(b"<html>a catalogue page</html>", "text/html; charset=utf-8")}) as s:
        refused(f"{s.url}/page", "is served as text/html, not an image")


def test_too_many_redirects_and_a_redirect_to_another_scheme_are_refused() -> None:
    resources = {
        "/loop": Resource(status=302, headers={"Location": "/loop"}),
        "/ftp": Resource(status=301, headers={"Location": "ftp://files.example/a.jpg"}),
    }
    with image_server(resources) as server:
        refused(f"{server.url}/loop", "more than 5 redirects")
        assert len(server.requests) == MAX_REDIRECTS + 1
        refused(f"{server.url}/ftp", "cannot be followed", "not http(s)")


def test_an_empty_image_is_refused() -> None:
    with image_server({"/empty.png": Resource(b"", "image/png")}) as server:
        refused(f"{server.url}/empty.png", "is empty (0 bytes")


# --- retryable: the next try checks again --------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 408])
def test_a_busy_or_broken_server_is_retryable(status: int) -> None:
    with image_server({"/a.jpg": Resource(b"busy", "text/plain", status=status)}) as server:
        transient(f"{server.url}/a.jpg", f"HTTP {status}")


def test_a_server_that_does_not_answer_is_a_timeout_and_retryable() -> None:
    hold = threading.Event()
    quick = ConnectionSettings.from_connection(None, "k", {"timeout": 0.3})
    with image_server({"/slow.jpg": Resource(BIG_JPEG, hold=hold)}) as server:
        transient(f"{server.url}/slow.jpg", "did not answer", "check_image_url=False", settings=quick)


def test_a_host_that_refuses_connections_is_retryable() -> None:
    with image_server({}) as server:
        url = f"{server.url}/a.jpg"
    transient(url, "could not be reached (ConnectError", "check_image_url=False")


# --- the switch, proxies, the batch, the gateway -----------------------------------------------


def test_with_the_check_off_nothing_is_fetched_and_the_log_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with image_server({}) as server:
        prepared = check(f"{server.url}/a.jpg", check_url=False)
        assert server.requests == []
    assert prepared.media_type is None
    assert (
        f"{FIELD}: the http(s) URL {server.url}/a.jpg was NOT checked (check_image_url=False)" in caplog.text
    )


def test_the_environments_proxy_carries_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name that is not loopback goes to the proxy of the environment (which answers for it
    from the loopback image server: nothing leaves the machine)."""
    with image_server({"/a.jpg": Resource(BIG_JPEG)}) as server, counting_proxy(server.url) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        prepared = check("http://images.example.test/a.jpg", settings=None)
        assert proxy.requests == ["http://images.example.test/a.jpg"]
        assert server.requests == [("/a.jpg", f"bytes=0-{HEAD_BYTES - 1}")]
    assert prepared.width == 1280


def test_the_connections_proxy_wins_over_the_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        image_server({"/a.jpg": Resource(BIG_JPEG)}) as server,
        counting_proxy(server.url) as chosen,
        counting_proxy(server.url) as ignored,
    ):
        monkeypatch.setenv("HTTP_PROXY", ignored.url)
        settings = ConnectionSettings.from_connection(None, "k", {"proxy": chosen.url})
        check("http://images.example.test/a.jpg", settings=settings)
        assert (len(chosen.requests), len(ignored.requests)) == (1, 0)


def test_no_proxy_and_loopback_bypass_the_environments_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    with image_server({"/a.jpg": Resource(BIG_JPEG)}) as server, counting_proxy(server.url) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        check(f"{server.url}/a.jpg", settings=None)
        assert proxy.requests == []
        assert len(server.requests) == 1


def test_a_batch_reports_every_bad_url_at_once() -> None:
    resources = {
        "/good.jpg": Resource(BIG_JPEG),
        "/small.png": Resource(image_bytes(200, 200), "image/png"),
        "/page": Resource(b"<html></html>", "text/html"),
        "/busy": Resource(b"", "text/plain", status=503),
    }
    with image_server(resources) as server:
        urls = [f"{server.url}{path}" for path in ("/good.jpg", "/small.png", "/gone", "/page", "/busy")]
        items: list[object] = [*urls, "data:image/png;base64,AAAA", "/local/file.png", None]
        bad = check_image_urls(items * 4, model=SPEC, settings=SETTINGS, concurrency=8)
    expected = {r * len(items) + i for r in range(4) for i in (1, 2, 3, 4)}
    assert set(bad) == expected
    assert str(bad[1]).startswith("images[1]: http(s) URL")
    assert "short side of 200 px" in str(bad[1])
    assert "does not exist (HTTP 404)" in str(bad[2])
    assert isinstance(bad[3], I2VInvalidRequestError)
    assert isinstance(bad[4], I2VTransientError)
    assert not isinstance(bad[4], I2VInvalidRequestError)


def test_an_empty_batch_or_one_without_urls_checks_nothing() -> None:
    assert check_image_urls([]) == {}
    assert check_image_urls(["/a.png", "data:image/png;base64,AAAA"]) == {}


def test_the_checked_url_reaches_the_gateway_unchanged(simulator: Any, i2v_conn: str) -> None:
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.protocol import GenerationRequest

    with image_server({"/p/cat.jpg": Resource(BIG_JPEG)}) as server:
        url = f"{server.url}/p/cat.jpg?X-Amz-Signature=abc"
        hook = I2VHook()
        prepared = prepare_first_frame_image(url, SPEC, settings=hook.get_settings())
        hook.create_generation(GenerationRequest(first_frame_image=prepared.url))
    [create] = [r for r in simulator.requests if r.endpoint == "create"]
    assert create.params["first_frame_image"] == url


def test_images_checked_in_a_batch_are_not_fetched_again(caplog: pytest.LogCaptureFixture) -> None:
    from airflow_provider_i2v.images import prepare_image_urls

    with image_server({"/a.jpg": Resource(BIG_JPEG), "/gone": Resource(status=404)}) as server:
        urls = [f"{server.url}/a.jpg", f"{server.url}/gone", "/local.png"]
        good, bad = prepare_image_urls(urls, settings=SETTINGS)
        assert (set(good), set(bad)) == ({0}, {1})
        again = prepare_first_frame_image(good[0], SPEC, field="images[0]")
        assert len(server.requests) == 2  # one each, none for the item given back
    assert again is good[0]
    assert again.url == urls[0]
    assert "NOT checked" not in caplog.text
