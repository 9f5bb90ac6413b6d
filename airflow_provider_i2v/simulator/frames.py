"""The first frame of a rendered video: the image the create was sent, or a stand-in for it.

A data URL is decoded with Pillow. An http(s) URL cannot be fetched (the simulator
never reaches the internet, and a test must not depend on it), so its frame is a
placeholder derived from the URL alone: a gradient in colours drawn from its hash,
with the URL's last path part written on it, so two URLs give two different videos
and a person can tell which image a video stands for. An image Pillow cannot read
(the simulator checks base64, not pixels) gets a placeholder too.

The frame is cropped to the video's aspect ratio and kept a little larger than the
video (:data:`OVERSCAN`), the room the zoom and pan of :mod:`.video` move in.
"""

from __future__ import annotations

import base64
import colorsys
import hashlib
import io
from urllib.parse import unquote, urlsplit

from PIL import Image, ImageDraw, ImageFont, ImageOps

#: The prepared frame's size relative to the video's: the zoom's end (1.15 = 15 % closer).
OVERSCAN = 1.15


def canvas_size(width: int, height: int) -> tuple[int, int]:
    """Size of the prepared frame for a ``width`` x ``height`` video (even: chroma is halved)."""
    return 2 * round(width * OVERSCAN / 2), 2 * round(height * OVERSCAN / 2)


def source_key(image: str, width: int, height: int) -> str:
    """The cache key of a frame: the image reference's digest and the video's size."""
    digest = hashlib.sha256(image.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{digest}:{width}x{height}"


def prepare(image: str, width: int, height: int) -> tuple[str, Image.Image]:
    """``(key, frame)``: the first frame of ``image``, fitted to the video's canvas (RGB)."""
    size = canvas_size(width, height)
    frame = _decoded(image, size) if image.startswith("data:") else None
    if frame is None:
        frame = placeholder(image, size)
    return source_key(image, width, height), frame


def _decoded(image: str, size: tuple[int, int]) -> Image.Image | None:
    """The data URL's picture fitted to ``size``, or ``None`` if Pillow cannot read it."""
    try:
        data = base64.b64decode(image.partition(",")[2])
        with Image.open(io.BytesIO(data)) as picture:
            picture.draft("RGB", size)  # JPEG: decode at a reduced scale, much faster
            upright = ImageOps.exif_transpose(picture).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    return ImageOps.fit(upright, size, Image.Resampling.LANCZOS)


def placeholder(image: str, size: tuple[int, int]) -> Image.Image:
    """A frame standing for an image the simulator cannot have: colours and a name from ``image``."""
    digest = hashlib.sha256(image.encode("utf-8", "surrogatepass")).digest()
    top = _colour(digest[0] / 255, 0.55, 0.85)
    bottom = _colour((digest[0] / 255 + 0.12 + digest[1] / 2550) % 1.0, 0.7, 0.35)
    width, height = size
    frame = Image.linear_gradient("L").resize(size)
    frame = Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), frame)
    draw = ImageDraw.Draw(frame)
    for index in range(6):  # a few discs, so the camera's motion shows
        x = digest[2 + index] / 255 * width
        y = digest[8 + index] / 255 * height
        radius = (0.05 + digest[14 + index] / 255 * 0.12) * height
        shade = _colour((digest[0] / 255 + 0.5) % 1.0, 0.4, 0.6 + index * 0.05)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=shade)
    label = _label(image)
    font = ImageFont.load_default(size=max(12, height // 10))
    left, upper, right, lower = draw.textbbox((0, 0), label, font=font)
    position = ((width - (right - left)) / 2 - left, (height - (lower - upper)) / 2 - upper)
    draw.text(position, label, font=font, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return frame


def _label(image: str) -> str:
    if image.startswith("data:"):
        return "unreadable image"
    name = unquote(urlsplit(image).path.rstrip("/").rpartition("/")[2]) or urlsplit(image).netloc
    return name[:40] or "image"


def _colour(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue, saturation, min(value, 1.0))
    return round(red * 255), round(green * 255), round(blue * 255)
