"""Request builders shared by the simulator tests."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from airflow_provider_i2v.protocol import CREATE_PATH, GenerationRequest, poll_path
from tests.conftest import API_KEY  # noqa: F401  (one key for all tests)

IMAGE_URL = "https://example.com/cat.jpg"
#: A real 1x1 PNG: the simulator checks base64 and size, not pixels.
PNG_BYTES = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def create_body(image: str = IMAGE_URL, **params: Any) -> dict[str, Any]:
    """A valid create body (built by the protocol module, as the provider builds it)."""
    return GenerationRequest(first_frame_image=image, **params).to_body()


def data_url(payload: bytes = PNG_BYTES, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(payload).decode()}"


def create(client: httpx.Client, **params: Any) -> dict[str, Any]:
    """Create a generation; asserts the 200 and returns the answer."""
    response = client.post(CREATE_PATH, json=create_body(**params))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def poll(client: httpx.Client, generation_id: str) -> dict[str, Any]:
    """Poll once; asserts the 200 and returns the answer."""
    response = client.get(poll_path(generation_id))
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
