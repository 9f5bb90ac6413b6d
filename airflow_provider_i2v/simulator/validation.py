"""Reading a create body the way the gateway would, and refusing what it would refuse.

The parameters are read and checked by the protocol module (``GenerationRequest.from_body``
and ``parameter_problems``), the provider's own rules; this module adds what only a
server sees: the body's size, that it is JSON, and that a data URL really is base64
of an allowed image type under the model's size limit. A client that lets a bad
request through therefore fails against the simulator as it would against the
gateway, before any money is spent.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.protocol import (
    MINIMAX_I2V_01_LIVE,
    MODELS,
    GenerationRequest,
    MalformedRequestError,
    describe_image_reference,
    parameter_problems,
    params_of,
)

#: Largest request body the simulator reads, on any endpoint (only a create has one
#: worth the name): a base64 image just under the limit plus generous JSON room.
MAX_REQUEST_BODY_BYTES = MINIMAX_I2V_01_LIVE.image_max_bytes * 4 // 3 + 1024 * 1024


class InvalidCreateRequest(ValueError):
    """Why a create body is refused with a 400 (the text is the error message)."""


@dataclass(frozen=True)
class CreateRequest:
    """A create as the gateway reads it, and as the client sent it."""

    request: GenerationRequest
    #: ``input[0].params`` as sent (no default applied), the image reduced to a description.
    sent: dict[str, Any]


def read_create_request(body: bytes) -> CreateRequest:
    """The request in ``body``, or :class:`InvalidCreateRequest` saying every problem."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidCreateRequest("the request body is not valid JSON") from None
    try:
        request = GenerationRequest.from_body(payload)
    except MalformedRequestError as exc:
        raise InvalidCreateRequest(str(exc)) from None
    problems = parameter_problems(request) + data_url_problems(request)
    if problems:
        raise InvalidCreateRequest("; ".join(problems))
    sent = dict(params_of(payload))
    sent["first_frame_image"] = describe_image_reference(request.first_frame_image)
    return CreateRequest(request, sent)


def data_url_problems(request: GenerationRequest) -> list[str]:
    """What is wrong with a ``data:`` image (nothing for an http(s) URL)."""
    image = request.first_frame_image
    if not image.startswith("data:"):
        return []
    spec = MODELS.get(request.model, MINIMAX_I2V_01_LIVE)
    header, comma, payload = image.partition(",")
    media_type, _, encoding = header[len("data:") :].partition(";")
    allowed = sorted(set(spec.image_media_types.values()))
    if not comma:
        return ["first_frame_image: the data URL has no ',' before its data"]
    problems: list[str] = []
    if media_type.lower() not in allowed:
        problems.append(f"first_frame_image: media type {media_type!r} is not one of {allowed}")
    if encoding.lower() != "base64":
        problems.append("first_frame_image: the data URL must be base64-encoded (';base64')")
        return problems
    if not payload:
        return [*problems, "first_frame_image: the data URL holds no data"]
    size = len(payload) // 4 * 3 - (len(payload) - len(payload.rstrip("=")))
    if size >= spec.image_max_bytes:
        problems.append(
            f"first_frame_image: {size} bytes is over the limit; the image must be under "
            f"{spec.image_max_bytes} bytes"
        )
        return problems
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        problems.append("first_frame_image: the data URL's data is not valid base64")
    return problems
