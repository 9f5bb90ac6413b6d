"""A generation's parameters: checked before anything is paid for, and summed up in a digest.

Used by both operators (the single one: one set; the batch: one set per item, over shared
defaults). The limits themselves live in :mod:`airflow_provider_i2v.protocol`; this module
adds what only a DAG sees: values that are still templates or XComArgs at parse time, and
Python types a DAG author can get wrong (``duration="6"``, ``prompt_optimizer=1``).

The digest (:func:`digest`) names what was asked: the model, every parameter, the image
(a data URL carries its bytes; an ``http(s)`` URL is what was asked, as sent) and the
user's ``revision``. It is stored with every paid generation, so a later try or a clear
reuses a generation only for the request it was made for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import I2VInvalidRequestError
from airflow_provider_i2v.protocol import (
    MODELS,
    GenerationRequest,
    describe_image_reference,
    is_int,
    parameter_problems,
)

if TYPE_CHECKING:
    from airflow_provider_i2v.hooks.settings import ConnectionSettings

#: Operator parameters that become request fields besides the image, read off the dataclass.
REQUEST_PARAMS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(GenerationRequest) if f.name != "first_frame_image"
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


def describe_source(source: Any) -> str:
    """A short, loggable description of an image as given (never a data URL's bytes)."""
    source = unwrap_image(source)
    text = source if isinstance(source, str) else str(getattr(source, "url", source))
    return describe_image_reference(text) if text.startswith("data:") else text[:500]


def request_for(values: Mapping[str, Any], image: str, *, rendered: bool = True) -> GenerationRequest:
    """The request; before rendering, templated parameters are left out."""
    fields: dict[str, Any] = {}
    for name in REQUEST_PARAMS:
        if name not in TEMPLATED_PARAMS:
            fields[name] = values[name]
        elif rendered:
            fields[name] = values.get(name) or None
    return GenerationRequest(first_frame_image=image, **fields)


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


@dataclass(frozen=True)
class Prepared:
    """A checked request, ready to be sent, and what names it."""

    request: GenerationRequest
    digest: str
    #: What the log and the record say of the image (never a data URL's bytes).
    image: str


def digest(request: GenerationRequest, revision: str | None = None) -> str:
    """The SHA-256 of what was asked: model, parameters, image and ``revision``."""
    canonical = json.dumps([request.to_body(), revision or ""], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def prepare(
    values: Mapping[str, Any],
    source: Any,
    log: Any,
    *,
    where: str = "",
    revision: str | None = None,
    check_url: bool = True,
    settings: ConnectionSettings | None = None,
) -> Prepared:
    """Check everything and read the image (if it must be read); raises before any request.

    ``where`` prefixes every message (a batch names the item: ``"images[3]: "``); ``log``
    ``None`` says nothing (the batch's check pass over thousands of items). ``settings``: the
    connection's client options (proxy, TLS) for reading an ``http(s)`` image's first bytes.
    """
    from airflow_provider_i2v.images import prepare_first_frame_image

    check_params(values, rendered=True, where=where)
    field = f"{where}first_frame_image"
    image = prepare_first_frame_image(
        unwrap_image(source), MODELS[values["model"]], field=field, check_url=check_url, settings=settings
    )
    if log is not None:
        log.info("%sFirst frame: %s", where, image.describe())
    request = request_for(values, image.url)
    return Prepared(request, digest(request, revision), describe_source(source))
