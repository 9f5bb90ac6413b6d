"""A playable MP4 from one frame: a slow zoom and pan over it (the "Ken Burns" effect).

Encoded with PyAV (``pip install "airflow-provider-i2v[video]"``), whose wheels ship
FFmpeg with libx264, so nothing is installed on the machine. H.264 High, yuv420p,
the ``moov`` atom first (``faststart``: a browser plays it while it downloads).

Fast enough for a demo (well under a second for 6 s at 640x360 on one core): the
frame is converted to limited-range BT.601 Y'CbCr *once*, and every video frame is
three bilinear crops-and-resizes of those planes (chroma at half size), written
straight into the encoder's planes; no per-frame colour conversion. Deterministic:
the same frame and geometry give the same bytes (one encoder thread, no timestamps
in the file), which is what lets a generation's download be checked against its
announced size and repeated.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from PIL import Image

#: x264's speed/size trade: "veryfast" renders the demo's video in ~0.5 s to ~0.2 MB.
PRESET = "veryfast"
CRF = 23
#: Where the camera's pan goes over the video: from 15 % to 85 % of the room it has.
_PAN_FROM, _PAN_TO = 0.15, 0.85
# Full-range (what Pillow's YCbCr is) to the limited range H.264 players assume.
_LUMA = [16 + round(v * 219 / 255) for v in range(256)]
_CHROMA = [128 + round((v - 128) * 224 / 255) for v in range(256)]


def render(frame: Image.Image, *, width: int, height: int, fps: int, seconds: int) -> bytes:
    """The MP4 of ``seconds`` at ``fps``: from all of ``frame`` to its centre-right, zoomed in.

    ``frame`` is a prepared canvas (:func:`.frames.prepare`), larger than the video by
    the zoom it allows.
    """
    import av

    planes = _planes(frame)
    count = max(1, fps * seconds)
    handle, path = tempfile.mkstemp(suffix=".mp4", prefix="i2v-sim-")
    os.close(handle)
    try:
        # faststart: the moov atom first; bitexact: no muxer version string in the file.
        options = {"movflags": "+faststart", "fflags": "+bitexact"}
        container: Any = av.open(path, "w", format="mp4", options=options)
        with container:
            stream = container.add_stream(
                "libx264", rate=fps, options={"preset": PRESET, "crf": str(CRF), "threads": "1"}
            )
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for index, boxes in enumerate(_camera(frame.size, width, height, count)):
                picture = av.VideoFrame(width, height, "yuv420p")
                for plane, source, box, size in zip(
                    picture.planes, planes, boxes, _sizes(width, height), strict=True
                ):
                    plane.update(
                        _rows(source.resize(size, Image.Resampling.BILINEAR, box=box), plane.line_size)
                    )
                picture.pts = index
                container.mux(stream.encode(picture))
            container.mux(stream.encode(None))
        with open(path, "rb") as handle_in:
            return handle_in.read()
    finally:
        os.unlink(path)


def render_timed(frame: Image.Image, **geometry: int) -> tuple[bytes, float]:
    """:func:`render` and the seconds it took (the library reports them)."""
    started = time.perf_counter()
    data = render(frame, **geometry)
    return data, time.perf_counter() - started


def _planes(frame: Image.Image) -> tuple[Image.Image, Image.Image, Image.Image]:
    """Y at the canvas's size, Cb and Cr at half of it, in limited range."""
    luma, blue, red = frame.convert("YCbCr").split()
    half = (max(1, frame.width // 2), max(1, frame.height // 2))
    return (
        luma.point(_LUMA),
        blue.resize(half, Image.Resampling.BOX).point(_CHROMA),
        red.resize(half, Image.Resampling.BOX).point(_CHROMA),
    )


def _sizes(width: int, height: int) -> tuple[tuple[int, int], ...]:
    return (width, height), (width // 2, height // 2), (width // 2, height // 2)


Box = tuple[float, float, float, float]


def _camera(canvas: tuple[int, int], width: int, height: int, count: int) -> Iterator[tuple[Box, Box, Box]]:
    """Per frame, the crop of each plane: eased from the whole canvas to a zoomed window."""
    canvas_width, canvas_height = canvas
    zoom = min(canvas_width / width, canvas_height / height)
    for index in range(count):
        t = 0.5 - math.cos(math.pi * index / max(1, count - 1)) / 2  # ease in and out
        scale = 1 + (zoom - 1) * t
        crop_width, crop_height = canvas_width / scale, canvas_height / scale
        left = (canvas_width - crop_width) * (_PAN_FROM + (_PAN_TO - _PAN_FROM) * t)
        top = (canvas_height - crop_height) / 2
        box = (left, top, min(left + crop_width, canvas_width), min(top + crop_height, canvas_height))
        half = (box[0] / 2, box[1] / 2, box[2] / 2, box[3] / 2)
        yield box, half, half


def _rows(plane: Image.Image, line_size: int) -> bytes:
    """A plane's bytes, each row padded to the encoder's line size."""
    data = plane.tobytes()
    width = plane.width
    if line_size == width:
        return data
    pad = bytes(line_size - width)
    return b"".join(data[row : row + width] + pad for row in range(0, len(data), width))
