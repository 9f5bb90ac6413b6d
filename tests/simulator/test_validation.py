"""The simulator refuses (400, nothing created) what the gateway would refuse."""

from __future__ import annotations

import base64

import httpx
import pytest

from airflow_provider_i2v.protocol import CREATE_PATH, MINIMAX_I2V_01_LIVE
from airflow_provider_i2v.simulator import Simulator

from .helpers import PNG_BYTES, create, create_body, data_url


def _refused(client: httpx.Client, sim: Simulator, **kwargs: object) -> str:
    response = client.post(CREATE_PATH, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert sim.creations == 0
    assert sim.requests[-1].status == 400
    message: str = response.json()["message"]
    return message


def test_body_that_is_not_json(client: httpx.Client, sim: Simulator) -> None:
    assert "not valid JSON" in _refused(
        client, sim, content=b"{nope", headers={"content-type": "application/json"}
    )


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([], "JSON object"),
        ({"input": [{"params": {"first_frame_image": "https://x/y.jpg"}}]}, "'model'"),
        ({"model": "minimax_i2v_01_live", "input": []}, "'input'"),
        ({"model": "minimax_i2v_01_live", "input": [{"params": {}}]}, "first_frame_image"),
        (create_body(duration=10), "duration"),
        (create_body(resolution="1080P"), "resolution"),
        (create_body(prompt="x" * 2001), "prompt"),
        (create_body(model="other_model"), "not supported"),
        (create_body(image="ftp://example.com/cat.jpg"), "first_frame_image"),
        (create_body(callback_url="not-a-url"), "callback_url"),
    ],
    ids=[
        "not-object",
        "no-model",
        "empty-input",
        "no-image",
        "duration",
        "resolution",
        "prompt-length",
        "model",
        "image-scheme",
        "callback",
    ],
)
def test_bad_parameters(client: httpx.Client, sim: Simulator, body: object, words: str) -> None:
    assert words in _refused(client, sim, json=body)


def test_wrong_parameter_types(client: httpx.Client, sim: Simulator) -> None:
    body = create_body()
    body["input"][0]["params"]["duration"] = "6"
    assert "duration" in _refused(client, sim, json=body)


@pytest.mark.parametrize(
    ("image", "words"),
    [
        ("data:image/png;base64,@@@@", "not valid base64"),
        ("data:image/png;base64,AAA", "not valid base64"),
        ("data:image/gif;base64," + base64.b64encode(b"GIF89a").decode(), "media type"),
        ("data:image/png,rawbytes", "base64-encoded"),
        ("data:image/png;base64", "no ','"),
        ("data:image/png;base64,", "no data"),
    ],
    ids=["alphabet", "padding", "gif", "not-base64", "no-comma", "empty"],
)
def test_bad_data_urls(client: httpx.Client, sim: Simulator, image: str, words: str) -> None:
    assert words in _refused(client, sim, json=create_body(image=image))


def test_data_url_at_the_size_limit_is_refused(client: httpx.Client, sim: Simulator) -> None:
    limit = MINIMAX_I2V_01_LIVE.image_max_bytes
    payload = "A" * (limit // 3 * 4 + 4)  # decodes to just over the limit
    message = _refused(client, sim, json=create_body(image=f"data:image/jpeg;base64,{payload}"))
    assert str(limit) in message


@pytest.mark.parametrize("media_type", ["image/png", "image/jpeg", "image/webp"])
def test_valid_data_urls_are_accepted_and_never_recorded(
    client: httpx.Client, sim: Simulator, media_type: str
) -> None:
    image = data_url(PNG_BYTES, media_type)
    answer = create(client, image=image, prompt="a cat")
    assert sim.creations == 1
    record = sim.requests[-1]
    assert record.generation_id == answer["id"]
    assert record.params is not None
    assert record.params["prompt"] == "a cat"
    assert record.params["first_frame_image"].startswith(f"data:{media_type};base64,<")
    assert image.split(",", 1)[1] not in repr(sim.requests)


def test_a_large_valid_data_url_is_accepted(client: httpx.Client, sim: Simulator) -> None:
    image = data_url(b"\xff\xd8\xff" + bytes(3_000_000), "image/jpeg")  # parsed off the event loop
    create(client, image=image)
    assert sim.creations == 1
