"""The create request: its fields and defaults, its JSON body, and its parameter limits.

The dataclass's field defaults are the model page's defaults (from :mod:`.models`);
:meth:`GenerationRequest.from_body` (the gateway's reading, used by the simulator)
derives both the optional fields and their defaults from the dataclass itself, so a
default is written once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .models import DEFAULT_MODEL, MINIMAX_I2V_01_LIVE, MODELS
from .values import is_int

#: The JSON type of every optional parameter, as the model page types it.
_PARAM_TYPES: dict[str, type] = {
    "prompt": str,
    "duration": int,
    "resolution": str,
    "prompt_optimizer": bool,
    "callback_url": str,
    "aigc_watermark": bool,
}


class MalformedRequestError(ValueError):
    """A create body that does not follow the contract (raised on the server side)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One create request. ``first_frame_image`` is an http(s) URL or a data URL."""

    first_frame_image: str
    model: str = DEFAULT_MODEL
    prompt: str | None = None
    duration: int = MINIMAX_I2V_01_LIVE.default_duration
    resolution: str = MINIMAX_I2V_01_LIVE.default_resolution
    prompt_optimizer: bool = MINIMAX_I2V_01_LIVE.default_prompt_optimizer
    callback_url: str | None = None
    aigc_watermark: bool = MINIMAX_I2V_01_LIVE.default_aigc_watermark

    def __repr__(self) -> str:  # a data URL can be megabytes: never print it whole
        return (
            f"GenerationRequest(model={self.model!r}, first_frame_image="
            f"{describe_image_reference(self.first_frame_image)!r}, prompt={self.prompt!r}, "
            f"duration={self.duration!r}, resolution={self.resolution!r})"
        )

    def params(self) -> dict[str, Any]:
        """``input[0].params``: every parameter, optional ``None`` ones omitted."""
        values = {name: getattr(self, name) for name in ("first_frame_image", *_PARAM_TYPES)}
        return {name: value for name, value in values.items() if value is not None}

    def to_body(self) -> dict[str, Any]:
        """The JSON body of ``POST /model/v1/generation``."""
        return {"model": self.model, "input": [{"params": self.params()}]}

    @classmethod
    def from_body(cls, body: Any) -> GenerationRequest:
        """Read a create body (what the gateway does); raises :class:`MalformedRequestError`."""
        params = params_of(body)
        image = params.get("first_frame_image")
        if not isinstance(image, str) or not image:
            raise MalformedRequestError("'first_frame_image' is required")
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, kind in _PARAM_TYPES.items():
            value = params.get(name, defaults[name])
            not_an_int = kind is int and not is_int(value)
            if value is not None and (not_an_int or not isinstance(value, kind)):
                raise MalformedRequestError(f"'{name}' must be of type {kind.__name__}")
            values[name] = value
        return cls(first_frame_image=image, model=body["model"], **values)


def params_of(body: Any) -> dict[str, Any]:
    """``input[0].params`` of a create body, as sent; raises :class:`MalformedRequestError`."""
    if not isinstance(body, dict):
        raise MalformedRequestError("body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise MalformedRequestError("'model' is required")
    inputs = body.get("input")
    if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
        raise MalformedRequestError("'input' must be a non-empty list of objects")
    params = inputs[0].get("params")
    if not isinstance(params, dict):
        raise MalformedRequestError("'input[0].params' must be an object")
    return params


def parameter_problems(request: GenerationRequest) -> list[str]:
    """Every way ``request``'s non-image parameters break the model's documented limits.

    Each problem names the field, the value seen and the limit. An empty list means
    the parameters are acceptable. The image's own content (format, size, pixels) is
    checked by :mod:`airflow_provider_i2v.images`, which reads it.
    """
    spec = MODELS.get(request.model)
    if spec is None:
        return [f"model: {request.model!r} is not supported; supported models: {sorted(MODELS)}"]
    problems: list[str] = []
    if request.duration not in spec.durations:
        problems.append(
            f"duration: {request.duration!r} is not allowed for {spec.name}; allowed: {list(spec.durations)}"
        )
    if request.resolution not in spec.resolutions:
        problems.append(
            f"resolution: {request.resolution!r} is not allowed for {spec.name}; "
            f"allowed: {list(spec.resolutions)}"
        )
    if request.prompt is not None and len(request.prompt) > spec.prompt_max_chars:
        problems.append(
            f"prompt: {len(request.prompt)} characters is over the limit of "
            f"{spec.prompt_max_chars} characters"
        )
    if request.callback_url is not None and not is_http_url(request.callback_url):
        problems.append(f"callback_url: {request.callback_url!r} is not an http(s) URL")
    image = request.first_frame_image
    if not (is_http_url(image) or image.startswith("data:image/")):
        problems.append(
            f"first_frame_image: {describe_image_reference(image)!r} is neither an http(s) URL "
            "nor a data:image/... URL"
        )
    return problems


def is_http_url(value: str) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def describe_image_reference(value: str) -> str:
    """A short, loggable form of an image reference: data URLs lose their bytes."""
    if value.startswith("data:"):
        header, _, payload = value.partition(",")
        return f"{header},<{len(payload)} base64 characters>"
    return value if len(value) <= 300 else value[:297] + "..."
