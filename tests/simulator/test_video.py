"""Rendered videos (``video_mode`` rendered): real MP4s of the first frame, byte-stable, cached.

They are checked the way a person's player would read them: opened with PyAV (the
``video`` extra), which is also what renders them. Small sizes keep the tests quick;
the geometry is whatever the config asks for.
"""

from __future__ import annotations

import base64
import io
import threading
from typing import Any

import httpx
import pytest
from PIL import Image

from airflow_provider_i2v.simulator import Simulator, SimulatorServer, file_path
from airflow_provider_i2v.simulator.media import FRAME_CACHE_SIZE

from .helpers import create, poll

av = pytest.importorskip("av", reason="the 'video' extra (PyAV) is not installed")

WIDTH, HEIGHT, FPS = 320, 180, 12


def _image_url(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> str:
    picture = Image.new("RGB", size, colour)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _rendered(sim: Simulator) -> None:
    sim.configure(
        generation_seconds=0, video_mode="rendered", video_width=WIDTH, video_height=HEIGHT, video_fps=FPS
    )


def _open(data: bytes) -> tuple[float, int, tuple[int, int], list[Image.Image]]:
    """Duration (s), frames counted by decoding, frame size, and the decoded frames."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_image() for frame in container.decode(stream)]
        duration = float(container.duration / av.time_base)
        size = (stream.codec_context.width, stream.codec_context.height)
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
    return duration, len(frames), size, frames


def test_a_rendered_video_is_a_playable_mp4_of_the_first_frame(client: httpx.Client, sim: Simulator) -> None:
    _rendered(sim)
    generation_id = create(client, image=_image_url((220, 30, 30)))["id"]
    url = poll(client, generation_id)["output"][0]["content"][0]["url"]
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(response.content))
    data = response.content
    assert data[4:8] == b"ftyp"
    assert data.find(b"moov") < data.find(b"mdat")  # faststart: playable while downloading
    duration, count, size, frames = _open(data)
    assert duration == pytest.approx(6.0, abs=0.1)  # the request's duration (the model's default)
    assert count == 6 * FPS
    assert size == (WIDTH, HEIGHT)
    red, green, blue = frames[0].resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    assert red > 180  # the image it was sent (red), not a stand-in
    assert max(green, blue) < 70
    again = client.get(url)
    assert again.content == data  # byte-stable: a second download gets the same bytes
    head = client.head(url)
    assert head.headers["content-length"] == str(len(data))
    assert sim.stats()["file_downloads"] == 2


def test_videos_are_cached_per_image_and_differ_between_images(client: httpx.Client, sim: Simulator) -> None:
    _rendered(sim)
    blue = _image_url((20, 40, 200))
    first, second = create(client, image=blue)["id"], create(client, image=blue)["id"]
    other = create(client, image=_image_url((20, 200, 40)))["id"]
    one, two, three = (client.get(file_path(g)).content for g in (first, second, other))
    assert one == two  # the same image: one rendering, shared
    assert one != three
    assert len(sim.render_seconds) == 2


def test_an_http_url_renders_a_placeholder_named_after_it(client: httpx.Client, sim: Simulator) -> None:
    _rendered(sim)
    shoe = create(client, image="https://example.com/products/red-shoe.jpg")["id"]
    hat = create(client, image="https://example.com/products/hat.jpg")["id"]
    shoe_video, hat_video = client.get(file_path(shoe)).content, client.get(file_path(hat)).content
    assert shoe_video != hat_video
    duration, count, size, _ = _open(shoe_video)
    assert (round(duration), count, size) == (6, 6 * FPS, (WIDTH, HEIGHT))


def test_an_unreadable_image_still_gets_a_video(client: httpx.Client, sim: Simulator) -> None:
    _rendered(sim)
    not_a_picture = "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff" + bytes(64)).decode()
    generation_id = create(client, image=not_a_picture)["id"]
    _, count, size, _ = _open(client.get(file_path(generation_id)).content)
    assert (count, size) == (6 * FPS, (WIDTH, HEIGHT))


def test_rendering_is_deterministic() -> None:
    """What keeps a generation's bytes stable even after its video left the cache."""
    from airflow_provider_i2v.simulator import frames, video

    _, frame = frames.prepare(_image_url((90, 90, 200)), WIDTH, HEIGHT)
    first = video.render(frame, width=WIDTH, height=HEIGHT, fps=FPS, seconds=1)
    assert video.render(frame, width=WIDTH, height=HEIGHT, fps=FPS, seconds=1) == first


def test_a_video_whose_frame_left_the_cache_has_expired(client: httpx.Client, sim: Simulator) -> None:
    _rendered(sim)
    oldest = create(client, image="https://example.com/0.jpg")["id"]
    for index in range(1, FRAME_CACHE_SIZE + 1):
        create(client, image=f"https://example.com/{index}.jpg")
    assert client.get(file_path(oldest)).status_code == 404  # like an expired CDN link
    assert poll(client, oldest)["status"] == "completed"  # the generation itself is still there


def test_rendered_without_pyav_is_refused_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from airflow_provider_i2v.simulator import SimConfig

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a)
    )
    with pytest.raises(ValueError, match=r"video_mode rendered needs the video extra"):
        SimConfig(video_mode="rendered")
    assert SimConfig().video_mode == "synthetic"  # the default needs nothing


def test_synthetic_is_the_default_and_needs_no_rendering(client: httpx.Client, sim: Simulator) -> None:
    sim.configure(generation_seconds=0)
    generation_id = create(client)["id"]
    data = client.get(file_path(generation_id)).content
    assert generation_id.encode() in data[:100]  # the cheap deterministic bytes
    assert sim.render_seconds == []


def test_rendering_leaves_the_event_loop_free(
    server: SimulatorServer, client: httpx.Client, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a video renders (held mid-render here), other requests are answered: it runs in a thread."""
    from airflow_provider_i2v.simulator import video

    started, release = threading.Event(), threading.Event()
    real = video.render_timed

    def held_render(*args: Any, **kwargs: Any) -> tuple[bytes, float]:
        started.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(video, "render_timed", held_render)
    _rendered(sim)
    rendered, other = create(client, image=_image_url((200, 120, 40)))["id"], create(client)["id"]
    downloads: list[int] = []

    def download() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as downloader:
            downloads.append(downloader.get(file_path(rendered)).status_code)

    downloading = threading.Thread(target=download)
    downloading.start()
    try:
        assert started.wait(10)
        assert poll(client, other)["status"] == "completed"  # answered mid-render
        assert downloads == []
    finally:
        release.set()
        downloading.join(30)
    assert downloads == [200]
