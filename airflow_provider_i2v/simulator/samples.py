"""Sample first frames the simulator serves: ``GET /samples/<width>x<height>.<jpg|png|webp>``.

The provider checks an ``http(s)`` image (format, size, dimensions) before it pays, by
reading its first bytes. DAGs, demos and tests that run offline need such a URL on
loopback: the simulator serves one here. The real gateway has nothing like it (it reads
images from wherever users keep them); these requests are not gateway requests, so they
are neither recorded nor faulted. Ranged requests are answered with 206, as a CDN does.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
from typing import Any

SAMPLES_PREFIX = "/samples/"
_PATH = re.compile(r"^/samples/(\d{1,5})x(\d{1,5})\.(jpg|png|webp)$")
_TYPES = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp")}
_LARGEST_SIDE = 4096


def sample_url(base_url: str, width: int = 1280, height: int = 720, kind: str = "jpg") -> str:
    """The URL of a sample image on the simulator at ``base_url``."""
    return f"{base_url.rstrip('/')}{SAMPLES_PREFIX}{width}x{height}.{kind}"


@functools.lru_cache(maxsize=16)
def _image(width: int, height: int, kind: str) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(image).ellipse((width // 4, height // 4, 3 * width // 4, 3 * height // 4), fill="seagreen")
    buffer = io.BytesIO()
    image.save(buffer, format=_TYPES[kind][0])
    return buffer.getvalue()


async def serve_sample(scope: Any, send: Any) -> None:
    """Answer one ``/samples/`` request (404 for anything that does not name a sample)."""
    match = _PATH.match(scope["path"])
    width, height = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if (
        match is None
        or scope["method"] not in ("GET", "HEAD")
        or not (0 < width <= _LARGEST_SIDE >= height > 0)
    ):
        await _send(send, 404, b"no such sample", "text/plain")
        return
    kind = match.group(3)
    data = await asyncio.to_thread(_image, width, height, kind)
    status, extra = 200, []
    ranged = _range(dict(scope.get("headers") or []).get(b"range", b"").decode("latin-1"), len(data))
    if ranged is not None:
        start, end = ranged
        extra = [(b"content-range", f"bytes {start}-{end}/{len(data)}".encode())]
        status, data = 206, data[start : end + 1]
    body = b"" if scope["method"] == "HEAD" else data
    await _send(send, status, body, _TYPES[kind][1], extra, length=len(data))


def _range(header: str, size: int) -> tuple[int, int] | None:
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
    if match is None or int(match.group(1)) >= size:
        return None
    start = int(match.group(1))
    end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
    return (start, end) if end >= start else None


async def _send(
    send: Any,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
    length: int | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body) if length is None else length).encode()),
        (b"accept-ranges", b"bytes"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
