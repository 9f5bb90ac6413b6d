"""The models the gateway serves and their limits, as the vendor's model page documents them.

A :class:`ModelSpec` is the single source of every input limit and every default:
the request model, the operator's signature, the image checks and the simulator's
validation all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class ModelSpec:
    """What the gateway accepts for one model, and what it assumes when a parameter is omitted."""

    name: str
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    prompt_max_chars: int
    #: Pillow format name -> media type of the data URL.
    image_media_types: Mapping[str, str]
    #: "Less than 20MB". Read as decimal megabytes, the stricter reading: an image
    #: we let through must never be refused (and possibly charged) by the gateway.
    image_max_bytes: int
    #: "Short side greater than 300px": strictly greater.
    image_min_short_side_px: int
    #: "Aspect ratio between 2:5 and 5:2": both boundaries accepted.
    image_min_aspect: Fraction
    image_max_aspect: Fraction
    default_duration: int
    default_resolution: str
    default_prompt_optimizer: bool
    default_aigc_watermark: bool


MINIMAX_I2V_01_LIVE = ModelSpec(
    name="minimax_i2v_01_live",
    durations=(6,),
    resolutions=("720P",),
    prompt_max_chars=2000,
    image_media_types={"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"},
    image_max_bytes=20_000_000,
    image_min_short_side_px=300,
    image_min_aspect=Fraction(2, 5),
    image_max_aspect=Fraction(5, 2),
    default_duration=6,
    default_resolution="720P",
    default_prompt_optimizer=True,
    default_aigc_watermark=False,
)

MODELS: Mapping[str, ModelSpec] = {MINIMAX_I2V_01_LIVE.name: MINIMAX_I2V_01_LIVE}
DEFAULT_MODEL = MINIMAX_I2V_01_LIVE.name
