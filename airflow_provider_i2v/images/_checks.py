"""What an image's bytes say: format, dimensions and integrity, read without decoding pixels.

Everything here works on bytes already in memory (the reader capped them at the
model's size limit) and answers with :class:`Refusal` when the gateway would refuse
the image. Pillow reads only the header (format and size); the integrity walk
(``_integrity``) runs last, once every cheap check has passed.

Pillow is imported inside the functions: importing this module stays free.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from fractions import Fraction

from airflow_provider_i2v.images._integrity import integrity_problem
from airflow_provider_i2v.protocol import ModelSpec


class Refusal(Exception):
    """An input the gateway would refuse.

    The message completes the sentence ``"<field>: <label> ..."``; the caller adds the
    field name and turns it into :class:`~airflow_provider_i2v.exceptions.I2VInvalidRequestError`.
    """


@dataclass(frozen=True)
class ImageFacts:
    """What the checks learned about an accepted image."""

    format: str  #: a key of ``ModelSpec.image_media_types`` ("JPEG", "PNG", "WEBP")
    media_type: str
    width: int
    height: int


#: Leading bytes of formats Pillow is not asked to open, so that a refusal can say
#: what the file really is ("a GIF image") instead of "not an image".
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"%PDF", "PDF"),
    (0, b"8BPS", "PSD"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (0, b"<svg", "SVG"),
    (0, b"<?xml", "XML/SVG"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
)


def sniff_format(data: bytes) -> str | None:
    """The format the leading bytes announce, or ``None``. Only used to word refusals."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for offset, magic, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    return None


def format_bytes(size: int) -> str:
    """``19_500_000`` -> ``"19.5 MB"``: decimal units, like the seed's "20MB" limit."""
    if size >= 1_000_000_000:
        return f"{size / 1_000_000_000:.1f} GB"
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.1f} kB"
    return f"{size} bytes"


def a_format(name: str) -> str:
    """``"a GIF image"``, ``"an AVIF image"``: the article follows how the name is spoken."""
    article = "an" if name in {"AVIF", "ICO", "SVG", "XML/SVG", "MPO"} else "a"
    return f"{article} {name} image"


def allowed_formats(spec: ModelSpec) -> str:
    """``"JPEG, PNG, WEBP"``, for error messages."""
    return ", ".join(spec.image_media_types)


def _ratio(value: Fraction) -> str:
    return f"{value.numerator}:{value.denominator}"


def dimension_problems(width: int, height: int, spec: ModelSpec) -> list[str]:
    """Every way ``width`` x ``height`` breaks the model's pixel rules (empty list: fine).

    The seed says "short side greater than 300px" (strictly greater) and "aspect ratio
    between 2:5 and 5:2" (both boundaries accepted); ``spec`` holds the numbers.
    """
    problems: list[str] = []
    short = min(width, height)
    if short <= spec.image_min_short_side_px:
        problems.append(
            f"its short side of {short} px is not greater than {spec.image_min_short_side_px} px "
            f"(the short side must be at least {spec.image_min_short_side_px + 1} px)"
        )
    if width > 0 and height > 0:
        aspect = Fraction(width, height)
        if not spec.image_min_aspect <= aspect <= spec.image_max_aspect:
            problems.append(
                f"its aspect ratio {float(aspect):.4g} (= {_ratio(aspect)}) is outside the allowed "
                f"{_ratio(spec.image_min_aspect)} .. {_ratio(spec.image_max_aspect)} (both included)"
            )
    return problems


def inspect_image(data: bytes, spec: ModelSpec, label: str) -> ImageFacts:
    """Check ``data`` against every rule of ``spec``; return what was learned or raise :class:`Refusal`.

    Cheap checks come first (format and size from the header), the integrity walk
    last, so a wrong image is refused before any of its data is scanned.
    """
    facts = inspect_header(data, spec, label)
    problem = integrity_problem(data, facts.format)
    if problem is not None:
        raise Refusal(f"{label} is a corrupt or truncated {facts.format} image: {problem}")
    return facts


def inspect_header(data: bytes, spec: ModelSpec, label: str) -> ImageFacts:
    """The checks that need only the first bytes: format and pixel rules, no integrity walk.

    What :func:`inspect_image` runs first; an http(s) image is checked with it from a
    ranged read of its first bytes.
    """
    if not data:
        raise Refusal(f"{label} is empty (0 bytes); it holds no image")
    image_format, width, height = _read_header(data, spec, label)
    problems = dimension_problems(width, height, spec)
    if problems:
        raise Refusal(f"{label} is {width}x{height} pixels: " + "; ".join(problems))
    return ImageFacts(image_format, spec.image_media_types[image_format], width, height)


def _read_header(data: bytes, spec: ModelSpec, label: str) -> tuple[str, int, int]:
    """Format name and size from the header; Pillow is asked to try the allowed formats only.

    Restricting Pillow to the allowed formats keeps its other ~40 parsers away from
    untrusted bytes; the refusal then names the real format from the magic bytes.
    A declared pixel count over ``PIL.Image.MAX_IMAGE_PIXELS`` (the decompression-bomb
    guard, read at call time so a deployment can tune it) is a refusal, not a warning.
    """
    from PIL import Image, UnidentifiedImageError

    allowed = list(spec.image_media_types)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=allowed) as image:
                image_format = image.format or ""
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Refusal(
            f"{label} declares more pixels than the decompression-bomb guard allows "
            f"(PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,}): {exc} "
            "It was refused without being decoded."
        ) from None
    except UnidentifiedImageError:
        raise Refusal(_unidentified(data, spec, label)) from None
    except Exception as exc:  # any parser failure on hostile bytes is a refusal, never a crash
        raise Refusal(_unreadable(data, spec, label, f"{type(exc).__name__}: {exc}")) from None
    if image_format == "MPO" and "JPEG" in spec.image_media_types:
        image_format = "JPEG"  # a multi-picture JPEG: its first picture is a plain JPEG stream
    if image_format not in spec.image_media_types:
        raise Refusal(f"{label} is {a_format(image_format)}; allowed formats: {allowed_formats(spec)}")
    return image_format, width, height


def _unreadable(data: bytes, spec: ModelSpec, label: str, reason: str) -> str:
    """Pillow could not read the header: say why in the format's own terms when the walk can."""
    sniffed = sniff_format(data)
    if sniffed is not None and sniffed in spec.image_media_types:
        problem = integrity_problem(data, sniffed, decode=False)
        return f"{label} is a corrupt or truncated {sniffed} image: {problem or reason}"
    return f"{label} is a corrupt {sniffed or 'image'} file: its header cannot be read ({reason})"


def _unidentified(data: bytes, spec: ModelSpec, label: str) -> str:
    sniffed = sniff_format(data)
    if sniffed in spec.image_media_types:
        return _unreadable(data, spec, label, "Pillow does not recognise its header")
    if sniffed is not None:
        return f"{label} is {a_format(sniffed)}; allowed formats: {allowed_formats(spec)}"
    return (
        f"{label} is not an image in an allowed format (its bytes match none of "
        f"{allowed_formats(spec)}; {format_bytes(len(data))} of unrecognised data)"
    )
