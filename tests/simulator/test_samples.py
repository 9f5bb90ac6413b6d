"""The simulator's sample first frames: real images on loopback that pass the provider's URL check."""

from __future__ import annotations

from typing import Any

import httpx

from airflow_provider_i2v.images import prepare_first_frame_image
from airflow_provider_i2v.protocol import MINIMAX_I2V_01_LIVE
from airflow_provider_i2v.simulator import sample_url


def test_a_sample_passes_the_url_check_and_is_sent_unchanged(simulator_server: Any) -> None:
    url = sample_url(simulator_server.url, 1280, 720)
    image = prepare_first_frame_image(url, MINIMAX_I2V_01_LIVE, field="first_frame_image")
    assert image.url == url


def test_ranges_are_honoured_and_unknown_samples_are_404(simulator_server: Any) -> None:
    url = sample_url(simulator_server.url, 640, 480, "png")
    before = simulator_server.simulator.stats()["requests"]
    whole = httpx.get(url)
    part = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert whole.headers["content-type"] == "image/png"
    assert part.status_code == 206
    assert part.content == whole.content[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"
    assert httpx.get(f"{simulator_server.url}/samples/0x480.png").status_code == 404
    assert httpx.get(f"{simulator_server.url}/samples/640x480.gif").status_code == 404
    assert simulator_server.simulator.stats()["requests"] == before  # not a gateway request
