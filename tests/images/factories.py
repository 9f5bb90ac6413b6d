"""Test images, all made in code (no binary fixtures): valid ones from Pillow, broken ones by hand.

The hand-made ones need exact control over bytes Pillow would never write: a PNG
header that claims 20000x20000 pixels, pixel data that inflates past its header,
a JPEG whose thumbnail carries the only end-of-image marker, and so on.
"""

from __future__ import annotations

import base64
import io
import os
import struct
import zlib
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def image_bytes(
    width: int, height: int, image_format: str = "PNG", *, mode: str = "RGB", noise: bool = False, **save: Any
) -> bytes:
    """A valid image; solid colour (tiny, fast) unless ``noise`` (incompressible)."""
    from PIL import Image

    if noise:
        image = Image.frombytes(mode, (width, height), os.urandom(width * height * len(mode)))
    else:
        image = Image.new(mode, (width, height), (20, 120, 220)[: len(mode)] if mode != "L" else 128)
    out = io.BytesIO()
    image.save(out, image_format, **save)
    return out.getvalue()


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode("ascii")


def padded(data: bytes, size: int) -> bytes:
    """``data`` followed by zero bytes up to ``size``: still a valid image (after its end marker)."""
    assert size >= len(data)
    return data + bytes(size - len(data))


# --- PNG by hand ------------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png(
    width: int,
    height: int,
    idat: bytes,
    *,
    bit_depth: int = 8,
    color_type: int = 2,
    interlace: int = 0,
    end: bool = True,
) -> bytes:
    """A PNG with exactly the given header and compressed pixel data (valid CRCs)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    out = PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
    return out + png_chunk(b"IEND", b"") if end else out


def zeros_deflated(raw_size: int) -> bytes:
    """``raw_size`` zero bytes, deflated without ever holding them (a bomb's payload)."""
    compressor = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = []
    left = raw_size
    while left:
        step = min(left, len(block))
        parts.append(compressor.compress(block[:step]))
        left -= step
    parts.append(compressor.flush())
    return b"".join(parts)


def png_raw_rows(width: int, height: int, bytes_per_pixel: int = 3) -> int:
    return height * (width * bytes_per_pixel + 1)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, CRC-valid PNG whose header claims ``width`` x ``height`` pixels (1-bit grey)."""
    return png(width, height, zlib.compress(b"\x00" * 64), bit_depth=1, color_type=0)


def png_bomb(width: int, height: int) -> bytes:
    """A real 1-bit grey PNG of zeros: kilobytes on disk, ``width*height`` pixels decoded."""
    return png(width, height, zeros_deflated(height * ((width + 7) // 8 + 1)), bit_depth=1, color_type=0)


def png_chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """``(offset, type, total length)`` of each chunk."""
    out = []
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        out.append((pos, kind, 12 + length))
        pos += 12 + length
        if kind == b"IEND":
            break
    return out


# --- JPEG by hand -----------------------------------------------------------------------


def jpeg_with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Insert an application segment right after SOI."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """Patch the frame header (SOF0) to claim another size."""
    sof = jpeg.index(b"\xff\xc0")
    return jpeg[: sof + 5] + struct.pack(">HH", height, width) + jpeg[sof + 9 :]


# --- WebP by hand -----------------------------------------------------------------------


def webp_with_riff_size(webp: bytes, riff_size: int) -> bytes:
    return webp[:4] + struct.pack("<I", riff_size) + webp[8:]


def webp_vp8x_declaring(width: int, height: int) -> bytes:
    """An extended WebP whose canvas claims ``width`` x ``height`` and that holds no image."""
    vp8x = bytes([0, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_chunks(webp: bytes) -> list[tuple[bytes, bytes]]:
    """``(fourcc, body)`` of each top-level chunk."""
    chunks = []
    pos = 12
    while pos + 8 <= len(webp):
        length = int.from_bytes(webp[pos + 4 : pos + 8], "little")
        chunks.append((webp[pos : pos + 4], webp[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return chunks


def webp_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    """A RIFF container whose every length is consistent with what it holds."""
    body = b"WEBP" + b"".join(
        fourcc + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
        for fourcc, payload in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body
