"""An operator's generation parameters: checked before anything is paid for.

Shared by :class:`~airflow_provider_i2v.operators.i2v.ImageToVideoOperator` (one set)
and the batch operator (one set per item, over shared defaults). The limits
themselves live in :mod:`airflow_provider_i2v.protocol`; this module adds what only an
operator sees: values that are still templates or XComArgs at parse time, and Python
types a DAG author can get wrong (``duration="6"``, ``prompt_optimizer=1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_i2v.exceptions import I2VInvalidRequestError
from airflow_provider_i2v.protocol import (
    MODELS,
    GenerationRequest,
    describe_image_reference,
    is_int,
    parameter_problems,
)

#: Operator parameters that become request fields, besides ``first_frame_image``.
REQUEST_PARAMS = (
    "model",
    "prompt",
    "duration",
    "resolution",
    "prompt_optimizer",
    "callback_url",
    "aigc_watermark",
)
#: Parameters that are templated: unknown (a Jinja string or an XComArg) until rendered.
TEMPLATED_PARAMS = ("prompt", "callback_url")
_TYPED: dict[str, type] = {
    "model": str,
    "duration": int,
    "resolution": str,
    "prompt_optimizer": bool,
    "aigc_watermark": bool,
}
#: Stands in for the image while the non-image parameters are checked.
_PLACEHOLDER_IMAGE = "https://placeholder.invalid/image.png"


class RenderedImage:
    """A rendered ``first_frame_image`` that shows a summary, not megabytes of base64.

    Airflow stores every rendered template field for the UI's "Rendered Template"
    view; it serialises non-string values through their ``serialize()``. Wrapping a
    data URL after rendering keeps its bytes out of the metadata database and the UI.
    """

    def __init__(self, value: str) -> None:
        self.value = value

    def serialize(self) -> str:
        return describe_image_reference(self.value)

    def __repr__(self) -> str:
        return f"RenderedImage({self.serialize()!r})"


def unwrap_image(source: Any) -> Any:
    """The image as given, without its :class:`RenderedImage` wrapper."""
    return source.value if isinstance(source, RenderedImage) else source


def request_for(values: Mapping[str, Any], image: str, *, rendered: bool = True) -> GenerationRequest:
    """The request; before rendering, templated parameters are left out."""
    return GenerationRequest(
        first_frame_image=image,
        model=values["model"],
        prompt=(values.get("prompt") or None) if rendered else None,
        duration=values["duration"],
        resolution=values["resolution"],
        prompt_optimizer=values["prompt_optimizer"],
        callback_url=(values.get("callback_url") or None) if rendered else None,
        aigc_watermark=values["aigc_watermark"],
    )


def param_problems(values: Mapping[str, Any], *, rendered: bool) -> list[str]:
    """Every problem of the non-image parameters, each naming the field and the limit."""
    for name, kind in _TYPED.items():
        value = values[name]
        if not (is_int(value) if kind is int else isinstance(value, kind)):
            return [f"{name}: must be {kind.__name__}, got {value!r}"]
    if rendered:
        for name in TEMPLATED_PARAMS:
            value = values.get(name)
            if value is not None and not isinstance(value, str):
                return [f"{name}: must be a string, got {type(value).__name__}"]
    return parameter_problems(request_for(values, _PLACEHOLDER_IMAGE, rendered=rendered))


def check_params(values: Mapping[str, Any], *, rendered: bool, where: str = "") -> None:
    """Raise :class:`I2VInvalidRequestError` (never retried, nothing paid) on any problem."""
    if problems := param_problems(values, rendered=rendered):
        raise I2VInvalidRequestError(where + "; ".join(problems))


def validated_request(values: Mapping[str, Any], source: Any, log: Any, where: str = "") -> GenerationRequest:
    """Check everything and read the image (if it must be read); raises before any request.

    ``where`` prefixes every message (a batch names the item: ``"images[3]: "``).
    """
    from airflow_provider_i2v.images import prepare_first_frame_image

    check_params(values, rendered=True, where=where)
    field = f"{where}first_frame_image"
    image = prepare_first_frame_image(unwrap_image(source), MODELS[values["model"]], field=field)
    log.info("%sFirst frame: %s", where, image.describe())
    return request_for(values, image.url)
