"""``first_frame_image``: every accepted kind of input, every limit on both sides, and hostile bytes.

All images are generated in code (``tests/images/factories.py``). A guard on every
test records any network connection or DNS lookup: preparing an image must never
send a request, whatever the input.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import socket
import subprocess
import sys
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_i2v.exceptions import I2VError, I2VInvalidRequestError
from airflow_provider_i2v.images import PreparedImage, prepare_first_frame_image
from airflow_provider_i2v.images._sources import read_bounded
from airflow_provider_i2v.protocol import MINIMAX_I2V_01_LIVE, ModelSpec
from tests.images.factories import (
    data_url,
    image_bytes,
    jpeg_with_segment,
    jpeg_with_size,
    padded,
    png,
    png_bomb,
    png_chunks,
    png_declaring,
    png_raw_rows,
    webp_chunks,
    webp_from_chunks,
    webp_vp8x_declaring,
    webp_with_riff_size,
    zeros_deflated,
)
from tests.images.scripted_fs import ScriptedFS

SPEC = MINIMAX_I2V_01_LIVE
REPO = Path(__file__).resolve().parents[1]
FIELD = "first_frame_image"
PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# --------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------


def zlib_compress(data: bytes) -> bytes:
    return zlib.compress(data)


@pytest.fixture(autouse=True)
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Record (and block) every connection or DNS lookup; fail the test if there was any.

    Recorded rather than only raised: the module under test turns unexpected
    exceptions into refusals, which would hide a raised guard.
    """
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network disabled in tests")

    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("DNS disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield attempts
    assert attempts == [], f"preparing an image used the network: {attempts}"


def refused(value: object, *fragments: str, spec: ModelSpec = SPEC, field: str = FIELD) -> str:
    """Assert ``value`` is refused as invalid (not retryable) with all ``fragments``; return the text."""
    with pytest.raises(I2VInvalidRequestError) as caught:
        prepare_first_frame_image(value, spec, field=field)
    message = str(caught.value)
    assert message.startswith(f"{field}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert isinstance(caught.value, AirflowFailException)  # fails without burning retries
    return message


def decoded(prepared: PreparedImage) -> bytes:
    header, _, payload = prepared.url.partition(",")
    assert header == f"data:{prepared.media_type};base64"
    return base64.b64decode(payload, validate=True)


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def small_spec(**changes: Any) -> ModelSpec:
    return dataclasses.replace(SPEC, **changes)


@pytest.fixture
def memory_store() -> Iterator[Callable[[str, bytes], Any]]:
    """``memory://`` in Airflow's object storage; yields ``put(name, data) -> ObjectStoragePath``."""
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach
    from airflow.sdk.io.store import _STORE_CACHE
    from fsspec.implementations.memory import MemoryFileSystem

    had_store = "memory" in _STORE_CACHE
    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    bucket = f"i2v-images-{os.getpid()}-{time.monotonic_ns()}"

    def put(name: str, data: bytes) -> Any:
        path = ObjectStoragePath(f"memory://{bucket}/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    yield put
    if fs.exists(f"/{bucket}"):
        fs.rm(f"/{bucket}", recursive=True)
    if not had_store:
        _STORE_CACHE.pop("memory", None)


VALID = {
    "PNG": (lambda: image_bytes(640, 360, "PNG"), "image/png"),
    "JPEG": (lambda: image_bytes(640, 360, "JPEG"), "image/jpeg"),
    "WEBP": (lambda: image_bytes(640, 360, "WEBP"), "image/webp"),
}


# --------------------------------------------------------------------------------------
# Import cost
# --------------------------------------------------------------------------------------


def test_importing_the_module_loads_neither_pillow_nor_airflow_nor_httpx_nor_fsspec() -> None:
    script = (
        "import json, sys; import airflow_provider_i2v.images; "
        "heavy = ('PIL', 'httpx', 'fsspec', 'airflow'); "
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    assert json.loads(result.stdout) == []


# --------------------------------------------------------------------------------------
# Accepted inputs, one test per kind
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/frames/first.png",
        "http://example.com/a.jpg",
        "https://example.com/no-extension?sig=abc&expires=1",
    ],
)
def test_http_url_with_the_check_off_passes_through_unchanged_and_is_not_fetched(
    url: str, network_attempts: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    prepared = prepare_first_frame_image(url, check_url=False)
    assert prepared.url == url
    assert (prepared.kind, prepared.media_type, prepared.size_bytes, prepared.width) == (
        "url",
        None,
        None,
        None,
    )
    assert network_attempts == []
    assert "was NOT checked (check_image_url=False)" in caplog.text


def test_http_url_source_hides_query_and_credentials() -> None:
    prepared = prepare_first_frame_image(
        "https://user:pw@bucket.example.com/a.png?X-Amz-Signature=SECRET", check_url=False
    )
    assert prepared.url.endswith("SECRET")  # sent as given
    assert "SECRET" not in prepared.source
    assert "pw" not in prepared.source
    assert "SECRET" not in prepared.describe()
    assert (
        prepared.describe()
        == "http(s) URL https://bucket.example.com/a.png?<query hidden> (not checked: the gateway reads it)"
    )


@pytest.mark.parametrize("image_format", sorted(VALID))
def test_data_url_is_checked_and_passed_on_unchanged(image_format: str) -> None:
    make, media_type = VALID[image_format]
    data = make()
    url = data_url(data, media_type)
    prepared = prepare_first_frame_image(url)
    assert prepared.url == url
    assert (prepared.kind, prepared.media_type, prepared.size_bytes) == ("data_url", media_type, len(data))
    assert (prepared.width, prepared.height) == (640, 360)
    source = f"data:{media_type};base64,<{len(url) - len(media_type) - 13} base64 characters>"
    assert prepared.source == source
    assert prepared.describe().startswith(f"data URL {source} ({image_format}, ")
    assert prepared.describe().endswith(", 640x360)")


def test_data_url_with_jpg_alias_and_parameters_is_sent_with_the_canonical_header() -> None:
    data = image_bytes(640, 360, "JPEG")
    payload = base64.b64encode(data).decode()
    prepared = prepare_first_frame_image(f"data:image/JPG;name=a.jpg;base64,{payload}")
    assert prepared.url == f"data:image/jpeg;base64,{payload}"


@pytest.mark.parametrize("image_format", sorted(VALID))
def test_local_file_is_read_and_sent_as_a_data_url(tmp_path: Path, image_format: str) -> None:
    make, media_type = VALID[image_format]
    data = make()
    path = write(tmp_path, f"frame.{image_format.lower()}", data)
    prepared = prepare_first_frame_image(str(path))
    assert decoded(prepared) == data
    assert (prepared.kind, prepared.source, prepared.media_type) == ("file", str(path), media_type)
    assert prepared.size_bytes == len(data)
    assert prepared.describe() == (
        f"local file {path} ({image_format}, {len(data) / 1000:.1f} kB, 640x360)"
        if len(data) >= 1000
        else f"local file {path} ({image_format}, {len(data)} bytes, 640x360)"
    )


def test_pathlib_path_relative_path_and_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = image_bytes(400, 400)
    path = write(tmp_path, "a.png", data)
    assert decoded(prepare_first_frame_image(path)) == data
    monkeypatch.chdir(tmp_path)
    relative = prepare_first_frame_image("a.png")
    assert relative.source == str(path)
    assert decoded(relative) == data
    monkeypatch.setenv("HOME", str(tmp_path))
    assert prepare_first_frame_image("~/a.png").source == str(path)


def test_surrounding_whitespace_from_templating_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "a.png", image_bytes(400, 400))
    assert prepare_first_frame_image(f"  {path}\n").source == str(path)
    unchecked = prepare_first_frame_image(" https://example.com/a.png\n", check_url=False)
    assert unchecked.url == "https://example.com/a.png"


def test_file_uri_goes_through_object_storage(tmp_path: Path) -> None:
    data = image_bytes(500, 400, "JPEG")
    path = write(tmp_path, "a.jpg", data)
    prepared = prepare_first_frame_image(f"file://{path}")
    assert (prepared.kind, prepared.media_type, prepared.source) == (
        "object_storage",
        "image/jpeg",
        f"file://{path}",
    )
    assert decoded(prepared) == data


def test_object_storage_path_and_uri_on_memory_fs(memory_store: Callable[[str, bytes], Any]) -> None:
    data = image_bytes(800, 450, "WEBP")
    path = memory_store("frames/a.webp", data)
    for value in (path, str(path)):
        prepared = prepare_first_frame_image(value)
        assert (prepared.kind, prepared.media_type, prepared.source) == (
            "object_storage",
            "image/webp",
            str(path),
        )
        assert (prepared.width, prepared.height) == (800, 450)
        assert decoded(prepared) == data
    assert prepared.describe().startswith(f"object {path} (WEBP, ")


def test_bytes_decide_the_format_not_the_name(tmp_path: Path) -> None:
    png_named_webp = write(tmp_path, "really-a-png.webp", image_bytes(400, 400, "PNG"))
    jpeg_named_png = write(tmp_path, "really-a-jpeg.png", image_bytes(400, 400, "JPEG"))
    assert prepare_first_frame_image(png_named_webp).media_type == "image/png"
    assert prepare_first_frame_image(jpeg_named_png).media_type == "image/jpeg"
    gif_named_jpg = write(tmp_path, "a.jpg", image_bytes(400, 400, "GIF"))
    refused(str(gif_named_jpg), f"{gif_named_jpg} is a GIF image; allowed formats: JPEG, PNG, WEBP")


def test_multi_picture_jpeg_is_a_jpeg(tmp_path: Path) -> None:
    from PIL import Image

    out = io.BytesIO()
    frame = Image.new("RGB", (400, 400), "red")
    frame.save(out, "MPO", save_all=True, append_images=[frame])
    prepared = prepare_first_frame_image(write(tmp_path, "a.mpo", out.getvalue()))
    assert prepared.media_type == "image/jpeg"


def test_repr_never_contains_the_image() -> None:
    url = data_url(image_bytes(400, 400), "image/png")
    prepared = prepare_first_frame_image(url)
    assert url[40:80] not in repr(prepared)
    assert "base64 characters" in repr(prepared)


# --------------------------------------------------------------------------------------
# Values of no accepted kind
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "no image given (the value is None)"),
        ("", "the value is empty"),
        ("   \n", "the value is empty"),
        (42, "got a int (42)"),
        (["https://example.com/a.png"], "got a list"),
        ({"url": "x"}, "got a dict"),
        (b"\x89PNG\r\n\x1a\n", "raw bytes are not accepted"),
        ("http://", "is not a valid http(s) URL"),
        ("https:///path-without-host.png", "is not a valid http(s) URL"),
    ],
)
def test_values_of_no_accepted_kind_are_refused(value: object, fragment: str) -> None:
    message = refused(value, fragment)
    assert "expected" in message or "URL" in message


def test_the_field_name_is_the_callers() -> None:
    refused(None, "no image given", field="last_frame_image")


def test_a_refusal_fails_the_task_without_retries() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(AirflowFailException):  # Airflow fails such a task at once, retries unused
        prepare_first_frame_image("/no/such/image.png")


def test_huge_values_are_described_briefly() -> None:
    assert len(refused(list(range(1_000_000)), "got a list ([0, 1, 2, 3, ...])")) < 300


def test_an_unexpected_failure_is_still_a_refusal_naming_the_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import airflow_provider_i2v.images as images

    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(images, "inspect_image", broken)
    path = write(tmp_path, "a.png", image_bytes(400, 400))
    refused(str(path), f"{str(path)!r} could not be checked (RuntimeError: boom)", "not sent unchecked")


def test_any_pillow_exception_is_a_corrupt_image(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    def exploding_open(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("Pillow ran out of memory")

    monkeypatch.setattr(Image, "open", exploding_open)
    url = data_url(image_bytes(400, 400), "image/png")
    refused(url, "is a corrupt", "MemoryError: Pillow ran out of memory")


# --------------------------------------------------------------------------------------
# Files and object storage that cannot be read
# --------------------------------------------------------------------------------------


def test_missing_file_directory_device_and_fifo_are_refused_without_hanging(tmp_path: Path) -> None:
    refused(str(tmp_path / "nope.png"), f"{tmp_path / 'nope.png'} does not exist")
    refused(str(tmp_path), "is a directory, not an image file")
    refused("/dev/zero", "/dev/zero is not a regular file")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening a FIFO for reading blocks until a writer comes: must not hang
    started = time.monotonic()
    refused(str(fifo), "is not a regular file")
    assert time.monotonic() - started < 2
    refused(str(tmp_path / "a\x00b.png"), "is not a valid file path")
    refused(str(write(tmp_path, "file.png", b"x")) + "/child.png", "does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.png", image_bytes(400, 400))
    path.chmod(0)
    refused(str(path), "permission denied")


def test_object_storage_missing_directory_and_unknown_scheme(
    memory_store: Callable[[str, bytes], Any],
) -> None:
    existing = memory_store("dir/a.png", image_bytes(400, 400))
    refused(str(existing.parent / "missing.png"), "missing.png does not exist")
    refused(existing.parent, "is a directory, not an image file")
    refused("i2v-no-such-scheme://b/a.png", "is not a usable object-storage URI", "Unsupported filesystem")
    # a scheme fsspec knows but no installed Airflow provider serves
    refused("s3://b/a.png", "cannot be opened through Airflow object storage", "provider for this scheme")


@pytest.fixture
def scripted() -> Iterator[Callable[[str, bytes], Any]]:
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach
    from airflow.sdk.io.store import _STORE_CACHE

    fsspec.register_implementation("i2vscripted", ScriptedFS, clobber=True)
    attach("i2vscripted", fs=ScriptedFS())

    def put(name: str, data: bytes) -> Any:
        with warnings.catch_warnings():  # upath: "filesystem not explicitly implemented"
            warnings.simplefilter("ignore", UserWarning)
            path = ObjectStoragePath(f"i2vscripted://bucket/{name}")
        ScriptedFS.fail_with, ScriptedFS.hide_size, ScriptedFS.opened[:] = None, False, []
        with path.open("wb") as out:
            out.write(data)
        return path

    yield put
    ScriptedFS.store.clear()
    ScriptedFS.fail_with, ScriptedFS.hide_size, ScriptedFS.opened[:] = None, False, []
    _STORE_CACHE.pop("i2vscripted", None)


def test_object_storage_size_is_checked_from_info_before_opening(
    scripted: Callable[[str, bytes], Any],
) -> None:
    spec = small_spec(image_max_bytes=50_000)
    path = scripted("big.png", padded(image_bytes(400, 400), 50_000))
    refused(path, "is 50,000 bytes", "less than 50,000 bytes", spec=spec)
    assert ScriptedFS.opened == []


def test_object_storage_without_size_stops_reading_at_the_limit(
    scripted: Callable[[str, bytes], Any],
) -> None:
    spec = small_spec(image_max_bytes=50_000)
    path = scripted("big.png", padded(image_bytes(400, 400), 3_000_000))
    ScriptedFS.hide_size = True
    refused(path, "is at least 50,000 bytes", "less than 50,000 bytes", spec=spec)
    assert len(ScriptedFS.opened) == 1
    small = scripted("small.png", image_bytes(400, 400))
    ScriptedFS.hide_size = True
    assert prepare_first_frame_image(small).size_bytes == len(image_bytes(400, 400))


def test_storage_failure_is_a_retryable_error_not_a_refusal(scripted: Callable[[str, bytes], Any]) -> None:
    path = scripted("a.png", image_bytes(400, 400))
    ScriptedFS.fail_with = ConnectionError("connection reset by peer")
    with pytest.raises(I2VError) as caught:
        prepare_first_frame_image(path)
    assert not isinstance(caught.value, I2VInvalidRequestError)
    assert not isinstance(caught.value, AirflowFailException)  # a retry may succeed
    assert "connection reset by peer" in str(caught.value)
    assert str(caught.value).startswith(FIELD)


def test_bounded_read_never_reads_past_the_limit() -> None:
    class Endless(io.RawIOBase):
        served = 0

        def read(self, size: int = -1) -> bytes:
            assert 0 < size <= 1 << 20
            Endless.served += size
            return bytes(size)

    with pytest.raises(Exception, match="is at least 5,000,000 bytes"):
        read_bounded(Endless(), 5_000_000, None, "endless")
    assert Endless.served == 5_000_000


# --------------------------------------------------------------------------------------
# Size: "less than 20MB", of the image bytes
# --------------------------------------------------------------------------------------


def test_size_at_the_real_limit_is_refused_before_reading_and_one_byte_less_is_accepted(
    tmp_path: Path,
) -> None:
    limit = SPEC.image_max_bytes
    assert limit == 20_000_000
    head = image_bytes(400, 400)
    at_limit = write(tmp_path, "at.png", head)
    with open(at_limit, "r+b") as handle:
        handle.truncate(limit)  # sparse zero padding after IEND: still a valid PNG
    tracemalloc.start()
    message = refused(str(at_limit), "is 20,000,000 bytes (20.0 MB)", "less than 20,000,000 bytes")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2_000_000, "refused without reading the file"
    assert "not to the base64 data URL" in message
    below = write(tmp_path, "below.png", head)
    with open(below, "r+b") as handle:
        handle.truncate(limit - 1)
    prepared = prepare_first_frame_image(below)
    assert prepared.size_bytes == limit - 1
    assert len(prepared.url) > 26_000_000  # base64 of a 19.99 MB image: sent, a third longer


def test_a_5_gb_file_costs_a_stat_not_a_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with open(path, "wb") as handle:
        handle.write(image_bytes(400, 400))
        handle.truncate(5_000_000_000)
    tracemalloc.start()
    started = time.monotonic()
    refused(str(path), "is 5,000,000,000 bytes (5.0 GB)")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2_000_000
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", ["file", "data_url", "object_storage"])
def test_size_boundary_in_every_input_kind(
    kind: str, tmp_path: Path, memory_store: Callable[[str, bytes], Any]
) -> None:
    limit = 50_000
    spec = small_spec(image_max_bytes=limit)
    head = image_bytes(400, 400, "JPEG")

    def value(size: int) -> object:
        data = padded(head, size)
        if kind == "file":
            return str(write(tmp_path, f"{size}.jpg", data))
        if kind == "data_url":
            return data_url(data, "image/jpeg")
        return memory_store(f"{size}.jpg", data)

    refused(value(limit), "is 50,000 bytes", "less than 50,000 bytes (50.0 kB, decimal)", spec=spec)
    assert prepare_first_frame_image(value(limit - 1), spec).size_bytes == limit - 1


def test_data_url_limit_applies_to_the_image_not_the_base64_text() -> None:
    spec = small_spec(image_max_bytes=50_000)
    url = data_url(padded(image_bytes(400, 400), 49_999), "image/png")
    assert len(url) > 66_000  # the text is a third longer than the limit...
    assert prepare_first_frame_image(url, spec).size_bytes == 49_999  # ...and it is accepted
    big = data_url(padded(image_bytes(400, 400), 50_000), "image/png")
    refused(big, "is 50,000 bytes", "once decoded from its 66,668 base64 characters", spec=spec)


def test_oversized_data_url_is_refused_before_decoding() -> None:
    url = "data:image/png;base64," + "A" * (SPEC.image_max_bytes // 3 * 4 + 4)
    tracemalloc.start()
    message = refused(url, "is 20,000,001 bytes", "less than 20,000,000 bytes")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2_000_000
    assert "AAAA" not in message  # never the payload


# --------------------------------------------------------------------------------------
# Pixels: short side > 300, aspect ratio 2:5 .. 5:2 (both boundaries included)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "accepted"),
    [
        (300, 500, False),
        (500, 300, False),
        (301, 500, True),
        (500, 301, True),
        (300, 300, False),
        (301, 301, True),
        (1, 1, False),
    ],
)
def test_short_side_must_be_greater_than_300(width: int, height: int, accepted: bool) -> None:
    url = data_url(image_bytes(width, height), "image/png")
    if accepted:
        assert (prepare_first_frame_image(url).width, prepare_first_frame_image(url).height) == (
            width,
            height,
        )
    else:
        refused(
            url,
            f"is {width}x{height} pixels",
            f"short side of {min(width, height)} px is not greater than 300 px",
        )


@pytest.mark.parametrize(
    ("width", "height", "accepted"),
    [
        (400, 1000, True),  # exactly 2:5
        (1000, 400, True),  # exactly 5:2
        (400, 1001, False),  # just taller than 2:5
        (1001, 400, False),  # just wider than 5:2
        (401, 1000, True),
        (999, 400, True),
        (800, 2001, False),
        (2000, 800, True),
        (312, 1000, False),
    ],
)
def test_aspect_ratio_boundaries_are_included(width: int, height: int, accepted: bool) -> None:
    url = data_url(image_bytes(width, height, "JPEG"), "image/jpeg")
    if accepted:
        assert prepare_first_frame_image(url).width == width
    else:
        ratio = Fraction(width, height)
        refused(
            url,
            f"is {width}x{height} pixels",
            f"aspect ratio {float(ratio):.4g} (= {ratio.numerator}:{ratio.denominator})",
            "outside the allowed 2:5 .. 5:2 (both included)",
        )


def test_every_pixel_problem_is_reported_at_once() -> None:
    refused(data_url(image_bytes(100, 1000), "image/png"), "short side of 100 px", "aspect ratio 0.1")


def test_limits_come_from_the_spec_passed_in(tmp_path: Path) -> None:
    spec = small_spec(
        image_media_types={"PNG": "image/png"},
        image_min_short_side_px=100,
        image_min_aspect=Fraction(1, 1),
        image_max_aspect=Fraction(2, 1),
    )
    assert prepare_first_frame_image(data_url(image_bytes(150, 101), "image/png"), spec).width == 150
    refused(data_url(image_bytes(100, 100), "image/png"), "not greater than 100 px", spec=spec)
    refused(data_url(image_bytes(101, 150), "image/png"), "outside the allowed 1:1 .. 2:1", spec=spec)
    refused(str(write(tmp_path, "a.jpg", image_bytes(150, 101, "JPEG"))), "allowed formats: PNG", spec=spec)
    # and the default spec says otherwise about the same images
    refused(data_url(image_bytes(150, 101), "image/png"), "not greater than 300 px")


def test_a_format_without_a_structural_walk_is_checked_by_a_full_decode() -> None:
    """A future spec may allow a format this module has no walk for: it is then decoded in full."""
    spec = small_spec(image_media_types={"GIF": "image/gif", "PNG": "image/png"})
    gif = image_bytes(400, 400, "GIF", noise=True)
    assert prepare_first_frame_image(data_url(gif, "image/gif"), spec).media_type == "image/gif"
    refused(data_url(gif[: len(gif) // 2], "image/gif"), "corrupt or truncated GIF", "truncated", spec=spec)


# --------------------------------------------------------------------------------------
# Data URLs
# --------------------------------------------------------------------------------------

PNG_PAYLOAD = base64.b64encode(image_bytes(400, 400)).decode()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("data:text/plain;base64,aGVsbG8=", "has media type 'text/plain'"),
        ("data:;base64,aGVsbG8=", "has media type '(none)'"),
        (f"data:image/png,{PNG_PAYLOAD}", "is not base64-encoded"),
        ("data:image/png;base64", "no ',' separates its header"),
        ("data:image/png;base64,", "is empty (0 bytes)"),
        (f"data:image/png;base64,{PNG_PAYLOAD[:-1]}", "not a multiple of 4"),
        (f"data:image/png;base64,{PNG_PAYLOAD[:40]}\n{PNG_PAYLOAD[40:-1]}", "does not hold valid base64"),
        (f"data:image/png;base64,{PNG_PAYLOAD[:-4]}@@@@", "does not hold valid base64"),
        ("data:image/png;base64," + "ab-_" * 100, "does not hold valid base64"),  # URL-safe alphabet
        (f"data:image/png;base64,====={PNG_PAYLOAD[5:]}", "does not hold valid base64"),
        (f"data:image/png;base64,{PNG_PAYLOAD[:-4]}é" + "AAA", "does not hold valid base64"),
        (f"data:image/jpeg;base64,{PNG_PAYLOAD}", "declares image/jpeg but its bytes are a PNG image"),
        (f"data:image/gif;base64,{PNG_PAYLOAD}", "declares image/gif but its bytes are a PNG image"),
        (
            data_url(image_bytes(400, 400, "GIF"), "image/gif"),
            "is a GIF image; allowed formats: JPEG, PNG, WEBP",
        ),
        ("data:image/png;base64," + "x" * 5000, "is not an image in an allowed format"),
    ],
)
def test_malformed_data_urls_are_refused_without_quoting_their_bytes(url: str, fragment: str) -> None:
    message = refused(url, fragment)
    assert PNG_PAYLOAD[100:140] not in message
    assert len(message) < 600


def test_data_url_without_comma_is_described_briefly() -> None:
    message = refused("data:image/png;base64" + "A" * 100_000, "no ',' separates")
    assert len(message) < 400


# --------------------------------------------------------------------------------------
# Formats decided from the bytes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: image_bytes(400, 400, "GIF"), "is a GIF image"),
        (lambda: image_bytes(400, 400, "BMP"), "is a BMP image"),
        (lambda: image_bytes(400, 400, "TIFF"), "is a TIFF image"),
        (lambda: image_bytes(400, 400, "AVIF"), "is an AVIF image"),
        (lambda: image_bytes(256, 256, "ICO"), "is an ICO image"),
        (lambda: image_bytes(400, 400, "PDF"), "is a PDF image"),
        (lambda: b"<svg xmlns='http://www.w3.org/2000/svg' width='400' height='400'/>", "is an SVG image"),
        (lambda: b"hello, I am a text file, not a picture" * 10, "is not an image in an allowed format"),
        (lambda: os.urandom(4096), "is not an image in an allowed format"),
        (lambda: b"", "is empty (0 bytes)"),
    ],
)
def test_formats_other_than_jpeg_png_webp_are_refused_by_their_bytes(
    tmp_path: Path, make: Callable[[], bytes], fragment: str
) -> None:
    path = write(tmp_path, "picture.jpg", make())  # the name says JPEG; the bytes decide
    refused(str(path), f"{path} ", fragment)


# --------------------------------------------------------------------------------------
# Integrity: truncated and corrupt images
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noisy() -> dict[str, bytes]:
    """Small incompressible images, so that cuts land inside real pixel data."""
    return {
        "PNG": image_bytes(320, 320, "PNG", noise=True),
        "JPEG": image_bytes(320, 320, "JPEG", noise=True, quality=90),
        "JPEG_PROGRESSIVE": image_bytes(320, 320, "JPEG", noise=True, progressive=True),
        "WEBP": image_bytes(320, 320, "WEBP", noise=True),
        "WEBP_LOSSLESS": image_bytes(320, 320, "WEBP", noise=True, lossless=True),
    }


@pytest.mark.parametrize("name", ["PNG", "JPEG", "JPEG_PROGRESSIVE", "WEBP", "WEBP_LOSSLESS"])
def test_whole_noisy_images_are_accepted_and_with_trailing_bytes_too(
    noisy: dict[str, bytes], name: str
) -> None:
    data = noisy[name]
    media = {"P": "image/png", "J": "image/jpeg", "W": "image/webp"}[name[0]]
    assert decoded(prepare_first_frame_image(data_url(data, media))) == data
    assert prepare_first_frame_image(data_url(data + bytes(1000), media)).size_bytes == len(data) + 1000


def _exif() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    exif[0x010F] = "i2v tests"  # make
    return exif.tobytes()


ENCODER_VARIANTS = [
    ("JPEG", "RGB", {"progressive": True}),
    ("JPEG", "RGB", {"optimize": True}),
    ("JPEG", "RGB", {"subsampling": 0, "quality": 100}),
    ("JPEG", "L", {}),
    ("JPEG", "CMYK", {}),
    ("JPEG", "RGB", {"restart_marker_rows": 1}),
    ("JPEG", "RGB", {"icc_profile": b"\x00" * 70_000}),  # split over several APP2 segments
    ("JPEG", "RGB", {"exif": "exif"}),
    ("PNG", "RGBA", {}),
    ("PNG", "LA", {}),
    ("PNG", "I;16", {}),
    ("PNG", "P", {}),
    ("PNG", "1", {}),
    ("PNG", "RGB", {"compress_level": 0}),
    ("PNG", "RGB", {"optimize": True}),
    ("WEBP", "RGBA", {}),
    ("WEBP", "RGBA", {"lossless": True}),
    ("WEBP", "RGB", {"exif": "exif", "icc_profile": b"icc"}),
]


@pytest.mark.parametrize(("image_format", "mode", "options"), ENCODER_VARIANTS)
def test_valid_images_from_every_encoder_option_are_accepted(
    image_format: str, mode: str, options: dict[str, Any]
) -> None:
    """The integrity walks must never refuse a sound image: one per common encoder option."""
    from PIL import Image

    options = {key: _exif() if value == "exif" else value for key, value in options.items()}
    size = (480, 360)
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2, "CMYK": 4, "I;16": 2, "P": 1, "1": 1}[mode]
    if mode == "1":
        image = Image.frombytes("L", size, os.urandom(size[0] * size[1])).convert("1")
    else:
        image = Image.frombytes(mode, size, os.urandom(size[0] * size[1] * channels))
    out = io.BytesIO()
    image.save(out, image_format, **options)
    prepared = prepare_first_frame_image(data_url(out.getvalue(), f"image/{image_format.lower()}"))
    assert (prepared.width, prepared.height) == size


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_animated_png_and_webp_are_accepted(image_format: str) -> None:
    from PIL import Image

    frames = [Image.frombytes("RGB", (480, 360), os.urandom(480 * 360 * 3)) for _ in range(3)]
    out = io.BytesIO()
    frames[0].save(out, image_format, save_all=True, append_images=frames[1:], duration=100)
    assert prepare_first_frame_image(data_url(out.getvalue(), f"image/{image_format.lower()}")).width == 480


def test_sixteen_bit_png_is_measured_exactly() -> None:
    raw = 301 * (401 * 6 + 1)  # 16-bit RGB: 6 bytes a pixel
    whole = png(401, 301, zlib_compress(bytes(raw)), bit_depth=16)
    assert prepare_first_frame_image(data_url(whole, "image/png")).width == 401
    short = png(401, 301, zlib_compress(bytes(raw - 1)), bit_depth=16)
    refused(data_url(short, "image/png"), f"its header needs {raw:,}")


@pytest.mark.parametrize("name", ["PNG", "JPEG", "JPEG_PROGRESSIVE", "WEBP", "WEBP_LOSSLESS"])
@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, -2, -1])
def test_truncated_images_are_refused(noisy: dict[str, bytes], name: str, keep: float) -> None:
    data = noisy[name]
    cut = data[: int(len(data) * keep)] if keep > 0 else data[: int(keep)]
    media = {"P": "image/png", "J": "image/jpeg", "W": "image/webp"}[name[0]]
    message = refused(data_url(cut, media))
    assert "truncated" in message or "corrupt" in message


def test_interlaced_png_pixel_data_is_measured_pass_by_pass() -> None:
    width, height = 333, 301
    adam7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw = 0
    for x0, y0, dx, dy in adam7:
        pass_width, pass_height = -(-(width - x0) // dx), -(-(height - y0) // dy)
        raw += pass_height * (pass_width * 3 + 1) if pass_width and pass_height else 0
    interlaced = png(width, height, zlib_compress(bytes(raw)), interlace=1)
    assert prepare_first_frame_image(data_url(interlaced, "image/png")).width == width
    as_if_progressive = png(width, height, zlib_compress(bytes(png_raw_rows(width, height))), interlace=1)
    refused(data_url(as_if_progressive, "image/png"), f"its header needs {raw:,}")


def test_png_corruptions(noisy: dict[str, bytes]) -> None:
    data = noisy["PNG"]
    idat = next(offset for offset, kind, _ in png_chunks(data) if kind == b"IDAT")
    flipped = bytearray(data)
    flipped[idat + 100] ^= 0x55
    refused(data_url(bytes(flipped), "image/png"), "fails its CRC check")
    ihdr_flipped = bytearray(data)
    ihdr_flipped[20] ^= 0x01
    refused(data_url(bytes(ihdr_flipped), "image/png"), "the 'IHDR' chunk at byte 8 fails its CRC check")
    without_iend = data[: png_chunks(data)[-1][0]]
    refused(data_url(without_iend, "image/png"), "ends before the PNG IEND chunk")


def test_png_pixel_data_must_match_its_header() -> None:
    raw = png_raw_rows(400, 400)
    refused(
        data_url(png(400, 400, zlib_compress(bytes(raw - 400))), "image/png"), f"its header needs {raw:,}"
    )
    refused(
        data_url(png(400, 400, zlib_compress(bytes(raw))[:-10]), "image/png"),
        "before the end of the zlib stream",
    )
    refused(data_url(png(400, 400, b"not zlib data at all"), "image/png"), "corrupt or truncated PNG")
    assert (
        prepare_first_frame_image(data_url(png(400, 400, zlib_compress(bytes(raw))), "image/png")).width
        == 400
    )


def test_png_zlib_bomb_stops_at_the_size_its_header_allows() -> None:
    bomb = png(400, 400, zeros_deflated(300_000_000))  # 300 MB of zeros in ~300 kB
    assert len(bomb) < 400_000
    started = time.monotonic()
    tracemalloc.start()
    refused(data_url(bomb, "image/png"), "inflates to more than the 480,400 bytes", "decompression bomb")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 8_000_000


def test_jpeg_corruptions(noisy: dict[str, bytes]) -> None:
    data = noisy["JPEG"]
    refused(data_url(data[:-2], "image/jpeg"), "before the JPEG end-of-image marker")
    # a bad segment length makes the segment run past the end
    app0 = data.index(b"\xff\xe0")
    bad_length = data[: app0 + 2] + b"\xff\xf0" + data[app0 + 4 :]
    refused(data_url(bad_length, "image/jpeg"), "corrupt")


def test_jpeg_stray_bytes_before_a_marker_are_tolerated_as_decoders_do(noisy: dict[str, bytes]) -> None:
    from PIL import Image

    data = noisy["JPEG"]
    scan = data.index(b"\xff\xda")
    stray = data[:scan] + b"\x00\x12junk" + data[scan:]
    Image.open(io.BytesIO(stray)).load()  # a real decoder reads it (libjpeg only warns)
    assert prepare_first_frame_image(data_url(stray, "image/jpeg")).width == 320
    refused(data_url(stray[:-2], "image/jpeg"), "truncated")


def test_jpeg_thumbnail_end_marker_does_not_hide_a_truncated_image(noisy: dict[str, bytes]) -> None:
    """A naive "ends with / contains FF D9" check is fooled by an embedded thumbnail's marker."""
    thumbnail = image_bytes(16, 16, "JPEG")
    with_thumbnail = jpeg_with_segment(noisy["JPEG"], 0xE2, b"THUMB\x00" + thumbnail)
    assert prepare_first_frame_image(data_url(with_thumbnail, "image/jpeg")).width == 320
    truncated = with_thumbnail[: len(with_thumbnail) * 2 // 3]
    assert b"\xff\xd9" in truncated
    refused(data_url(truncated, "image/jpeg"), "truncated")


def test_load_truncated_images_setting_does_not_let_truncation_through(
    noisy: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for name, media in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        refused(data_url(noisy[name][:-100], media), "truncated")


def test_webp_pictures_cut_short_inside_a_consistent_container(noisy: dict[str, bytes]) -> None:
    """Truncated and re-wrapped so every RIFF length agrees: the bitstream headers still tell."""
    (fourcc, vp8), *_ = webp_chunks(noisy["WEBP"])
    assert fourcc == b"VP8 "
    assert prepare_first_frame_image(data_url(webp_from_chunks([(fourcc, vp8)]), "image/webp")).width == 320
    refused(data_url(webp_from_chunks([(fourcc, vp8[:200])]), "image/webp"), "first partition runs past")
    not_key = bytes([vp8[0] | 1]) + vp8[1:]
    refused(data_url(webp_from_chunks([(fourcc, not_key)]), "image/webp"), "corrupt")
    (fourcc, vp8l), *_ = webp_chunks(noisy["WEBP_LOSSLESS"])
    assert fourcc == b"VP8L"
    refused(data_url(webp_from_chunks([(fourcc, b"\x00" + vp8l[1:])]), "image/webp"), "corrupt")


def test_webp_container_lies(noisy: dict[str, bytes]) -> None:
    data = noisy["WEBP"]
    refused(data_url(webp_with_riff_size(data, len(data) + 100), "image/webp"), "its RIFF header announces")
    refused(data_url(webp_with_riff_size(data, 4), "image/webp"), "corrupt")


# --------------------------------------------------------------------------------------
# Decompression bombs and huge dimensions in tiny files
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "media"),
    [
        (lambda: png_declaring(20_000, 20_000), "image/png"),  # > 2x MAX_IMAGE_PIXELS: Pillow's error
        (lambda: png_declaring(10_000, 10_000), "image/png"),  # > MAX_IMAGE_PIXELS: Pillow's warning
        (lambda: png_declaring(2**31 - 1, 2**31 - 1), "image/png"),
        (lambda: png_bomb(10_000, 10_000), "image/png"),
        (lambda: jpeg_with_size(image_bytes(400, 400, "JPEG"), 60_000, 60_000), "image/jpeg"),
        (lambda: webp_vp8x_declaring(16_383, 16_383), "image/webp"),
    ],
)
def test_decompression_bombs_are_refused_from_the_header(make: Callable[[], bytes], media: str) -> None:
    data = make()
    assert len(data) < 2_000_000
    started = time.monotonic()
    refused(data_url(data, media), "decompression-bomb guard", "MAX_IMAGE_PIXELS")
    assert time.monotonic() - started < 3


def test_the_bomb_guard_follows_pillows_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    url = data_url(image_bytes(1000, 1000), "image/png")
    assert prepare_first_frame_image(url).width == 1000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400_000)
    refused(url, "decompression-bomb guard allows (PIL.Image.MAX_IMAGE_PIXELS = 400,000)")


# --------------------------------------------------------------------------------------
# Fuzz corpus: every malformed image ends in a clear refusal, fast, without a request
# --------------------------------------------------------------------------------------


def _corpus() -> dict[str, Callable[[], bytes]]:
    png_ok = image_bytes(320, 320, "PNG", noise=True)
    jpeg_ok = image_bytes(320, 320, "JPEG", noise=True)
    webp_ok = image_bytes(320, 320, "WEBP", noise=True)
    corpus: dict[str, Callable[[], bytes]] = {
        "zero-size": lambda: b"",
        "one byte": lambda: b"\xff",
        "png signature only": lambda: png_ok[:8],
        "png cut inside IHDR": lambda: png_ok[:20],
        "png header only": lambda: png_ok[:33],
        "png wrong magic": lambda: b"\x88" + png_ok[1:],
        "png zero width": lambda: png(0, 400, zlib_compress(b"")),
        "png unknown colour type": lambda: png(400, 400, zlib_compress(bytes(100)), color_type=5),
        "png no IDAT": lambda: png_ok[:33] + png_ok[-12:],
        "png 10 MB of zlib bomb in 400x400": lambda: png(400, 400, zeros_deflated(10_000_000)),
        "png claims 20000x20000": lambda: png_declaring(20_000, 20_000),
        "png bomb: 10000x10000 of zeros in kB": lambda: png_bomb(10_000, 10_000),
        "png IDAT CRC broken": lambda: png_ok[:60] + bytes([png_ok[60] ^ 1]) + png_ok[61:],
        "jpeg SOI only": lambda: b"\xff\xd8",
        "jpeg SOI + garbage": lambda: b"\xff\xd8\xff" + os.urandom(2000),
        "jpeg wrong magic": lambda: b"\x00" + jpeg_ok[1:],
        "jpeg header only": lambda: jpeg_ok[: jpeg_ok.index(b"\xff\xda") + 4],
        "jpeg no end marker": lambda: jpeg_ok[:-2],
        "jpeg end marker before any scan": lambda: jpeg_ok[: jpeg_ok.index(b"\xff\xda")] + b"\xff\xd9",
        "jpeg zero height": lambda: jpeg_with_size(jpeg_ok, 400, 0),
        "jpeg claims 65535x65535": lambda: jpeg_with_size(jpeg_ok, 65_535, 65_535),
        "jpeg thumbnail hides truncation": lambda: jpeg_with_segment(
            jpeg_ok, 0xE2, b"THUMB\x00" + image_bytes(16, 16, "JPEG")
        )[:-3000],
        "webp riff only": lambda: webp_ok[:12],
        "webp half": lambda: webp_ok[: len(webp_ok) // 2],
        "webp empty 9000x9000 canvas": lambda: webp_vp8x_declaring(9000, 9000),
        "webp VP8 start code broken": lambda: webp_ok[:23] + bytes(3) + webp_ok[26:],
        "webp canvas 16383x16383": lambda: webp_vp8x_declaring(16_383, 16_383),
        "webp RIFF size lies": lambda: webp_with_riff_size(webp_ok, len(webp_ok) + 1000),
        "gif bomb header": lambda: b"GIF89a" + (60000).to_bytes(2, "little") * 2 + bytes(100),
        "random bytes": lambda: os.urandom(10_000),
        "html error page": lambda: b"<!DOCTYPE html><html><body>404 Not Found</body></html>",
    }
    for fraction in (0.1, 0.5, 0.99):
        for name, data in (("png", png_ok), ("jpeg", jpeg_ok), ("webp", webp_ok)):
            corpus[f"{name} truncated to {fraction:.0%}"] = lambda d=data, f=fraction: d[: int(len(d) * f)]
    return corpus


CORPUS = _corpus()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_fuzz_corpus_is_refused_quickly_as_a_file_and_as_a_data_url(tmp_path: Path, name: str) -> None:
    data = CORPUS[name]()
    path = write(tmp_path, "input.png", data)
    started = time.monotonic()
    file_message = refused(str(path), str(path))
    media = {"\xff": "image/jpeg", "R": "image/webp"}.get(chr(data[0]) if data else "", "image/png")
    refused(data_url(data, media))
    assert time.monotonic() - started < 5
    assert "could not be checked" not in file_message  # a known failure, not the catch-all for bugs


# --------------------------------------------------------------------------------------
# Property-based tests
# --------------------------------------------------------------------------------------

ALL_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}


@st.composite
def image_cases(draw: st.DrawFn) -> tuple[int, int, str]:
    """Sizes anywhere, and sizes packed around each boundary (short side 300, ratios 2:5 and 5:2)."""
    how = draw(st.sampled_from(["anywhere", "short side", "ratio"]))
    if how == "anywhere":
        width, height = draw(st.integers(1, 1400)), draw(st.integers(1, 1400))
    elif how == "short side":
        short = draw(st.sampled_from([299, 300, 301]) | st.integers(290, 310))
        width, height = short, draw(st.integers(short, short * 5 // 2 + 2))
    else:
        height = draw(st.integers(290, 620))
        low, high = -(-2 * height // 5), 5 * height // 2  # ceil(2h/5), floor(5h/2)
        width = draw(st.sampled_from([low - 1, low, high, high + 1]) | st.integers(low - 3, high + 3))
    if draw(st.booleans()):
        width, height = height, width
    allowed = st.sampled_from(["PNG", "JPEG", "WEBP"])
    return width, height, draw(allowed | st.sampled_from(sorted(ALL_FORMATS)))


@PROPERTY
@given(case=image_cases(), as_file=st.booleans())
def test_accept_or_refuse_matches_the_rules(case: tuple[int, int, str], as_file: bool) -> None:
    width, height, image_format = case
    data = image_bytes(max(width, 1), max(height, 1), image_format)
    short_ok = min(width, height) > 300
    ratio_ok = 5 * width >= 2 * height and 2 * width <= 5 * height  # 2/5 <= w/h <= 5/2, in integers
    format_ok = image_format in ("PNG", "JPEG", "WEBP")
    if as_file:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            value: object = write(Path(tmp), "image.bin", data)
            outcome = _outcome(value)
    else:
        outcome = _outcome(data_url(data, ALL_FORMATS[image_format]))
    if format_ok and short_ok and ratio_ok:
        assert isinstance(outcome, PreparedImage), outcome
        assert (outcome.width, outcome.height, outcome.size_bytes) == (width, height, len(data))
        assert decoded(outcome) == data
    else:
        assert isinstance(outcome, I2VInvalidRequestError), outcome
        message = str(outcome)
        if not format_ok:
            assert f"is a {image_format} image" in message
        else:
            assert ("short side" in message) == (not short_ok), message
            assert ("aspect ratio" in message) == (not ratio_ok), message


def _outcome(value: object) -> PreparedImage | I2VInvalidRequestError:
    try:
        return prepare_first_frame_image(value)
    except I2VInvalidRequestError as refusal:
        return refusal


BASES = {name: image_bytes(320, 320, name, noise=True) for name in ("PNG", "JPEG", "WEBP")}


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(BASES[draw(st.sampled_from(sorted(BASES)))])
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "header"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "truncate":
            del data[at:]
        elif how == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif how == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif how == "header" and data:
            spot = draw(st.integers(0, min(len(data), 64) - 1))
            data[spot] = draw(st.integers(0, 255))
    return bytes(data)


@PROPERTY
@given(data=st.one_of(mutated_images(), st.binary(max_size=2048)))
@pytest.mark.timeout(120)
def test_mutated_and_random_bytes_are_accepted_intact_or_refused_never_crash(data: bytes) -> None:
    for media in ("image/png", "image/jpeg", "image/webp"):
        outcome = _outcome(data_url(data, media))
        if isinstance(outcome, PreparedImage):
            assert decoded(outcome) == data  # accepted means: sent exactly as read
            assert min(outcome.width or 0, outcome.height or 0) > 300
        else:
            assert "could not be checked" not in str(outcome)  # never the catch-all for bugs


@PROPERTY
@given(
    prefix=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x01\x00\x00WEBPVP8 "]),
    tail=st.binary(max_size=512),
)
def test_magic_bytes_followed_by_noise_are_refused(prefix: bytes, tail: bytes) -> None:
    outcome = _outcome(data_url(prefix + tail, "image/png"))
    assert isinstance(outcome, I2VInvalidRequestError)


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["PNG", "JPEG"])
def test_peak_memory_stays_under_three_times_the_image(tmp_path: Path, image_format: str) -> None:
    options = {"compress_level": 1} if image_format == "PNG" else {"quality": 100}
    data = image_bytes(1800, 1400, image_format, noise=True, **options)
    assert len(data) > 4_000_000
    path = write(tmp_path, "big", data)
    prepare_first_frame_image(write(tmp_path, "warm", image_bytes(400, 400, image_format)))  # imports
    tracemalloc.start()
    prepared = prepare_first_frame_image(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert prepared.size_bytes == len(data)
    assert peak <= 3 * len(data), f"peak {peak:,} for a {len(data):,}-byte image"
