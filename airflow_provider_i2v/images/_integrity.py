"""Integrity of an image whose header was already accepted: is all of it there, and intact?

Each format's own structure is walked instead of decoding pixels: JPEG markers to
the end-of-image marker, PNG chunks (CRC-checked) with a streaming, discard-as-you-go
inflate of the pixel data, WebP's RIFF chunks and bitstream headers. This catches truncation and byte-level
corruption at a fraction of a decode's cost in time and memory, and does not depend
on ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``, which a process may have switched on.
``Image.verify`` would not do: it does nothing for JPEG and never looks inside PNG's
compressed data.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib


def integrity_problem(data: bytes, image_format: str, *, decode: bool = True) -> str | None:
    """Why ``data`` is corrupt or truncated, or ``None`` if it is whole. Never raises.

    ``decode=False`` runs only the structural walks (no Pillow): used to explain why
    Pillow could not even read a header ("truncated: ..." says more than "cannot read").
    """
    try:
        if image_format == "JPEG":
            return _jpeg_problem(data)
        if image_format == "PNG":
            return _png_problem(data)
        if image_format == "WEBP":
            return _webp_problem(data)
        return _pillow_load_problem(data, image_format) if decode else None
    except Exception as exc:  # the walks index hostile bytes: any surprise is a corrupt image
        return f"{type(exc).__name__}: {exc}"


# --- JPEG -----------------------------------------------------------------------------

#: In entropy-coded data 0xFF is followed by 0x00 (stuffing), a restart marker
#: 0xD0-0xD7, or a fill 0xFF; anything else is the next real marker.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
#: Markers without a length field: TEM, RST0-7, SOI.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8})


def _jpeg_problem(data: bytes) -> str | None:
    """Walk the JPEG's segments to its end-of-image marker.

    Segment lengths are followed (so an EXIF thumbnail's own end marker is skipped,
    not mistaken for the image's), and entropy-coded scans are skipped with a C-speed
    regex. A missing end marker means truncation. Stray bytes between segments are
    skipped, as libjpeg does (it only warns), and bytes after the end marker are
    allowed: cameras append trailers (motion photos, maker data).
    """
    size = len(data)
    pos = 2  # after SOI; Pillow already matched FF D8
    seen_scan = False
    while True:
        if pos >= size:
            return "truncated: the data ends before the JPEG end-of-image marker"
        if data[pos] != 0xFF:  # stray bytes before a marker: libjpeg skips them with a warning
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return "truncated: the data ends before the JPEG end-of-image marker"
        while pos < size and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= size:
            return "truncated: the data ends inside a JPEG marker"
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return None if seen_scan else "the end-of-image marker comes before any image data"
        if marker in _JPEG_STANDALONE:
            continue
        if pos + 2 > size:
            return "truncated: the data ends inside a JPEG segment header"
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2:
            return f"a JPEG segment at byte {pos} has an impossible length {length}"
        pos += length
        if pos > size:
            return f"truncated: a JPEG segment (marker 0x{marker:02x}) runs past the end of the data"
        if marker == 0xDA:  # start of scan: skip its entropy-coded data
            seen_scan = True
            found = _JPEG_NEXT_MARKER.search(data, pos)
            if found is None:
                return "truncated: the image data stops before the JPEG end-of-image marker"
            pos = found.start()


# --- PNG ------------------------------------------------------------------------------

_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_INFLATE_IN = 64 * 1024
_INFLATE_OUT = 1024 * 1024


def _png_raw_size(data: bytes) -> int | None:
    """Bytes the IHDR promises once the pixel data is inflated (filter bytes included)."""
    width, height, bit_depth, color_type, _compression, _filter, interlace = struct.unpack_from(
        ">II5B", data, 16
    )
    channels = _PNG_CHANNELS.get(color_type)
    if channels is None:
        return None
    bits = channels * bit_depth

    def rows(w: int, h: int) -> int:
        return h * ((w * bits + 7) // 8 + 1) if w and h else 0

    if interlace == 0:
        return rows(width, height)
    return sum(rows((width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy) for x0, y0, dx, dy in _ADAM7)


def _png_problem(data: bytes) -> str | None:
    """Walk every chunk (CRC checked) to IEND and inflate IDAT in 1 MB pieces that are thrown away.

    The inflated length must equal what IHDR promises: shorter is truncated pixel
    data, longer is corruption or a zlib bomb, and inflating stops as soon as it is
    longer, so a bomb costs at most the image's own raw size in time and 1 MB in memory.
    Bytes after IEND are allowed (other decoders ignore them).
    """
    view = memoryview(data)
    size = len(data)
    expected = _png_raw_size(data) if len(data) >= 29 else None
    inflater = zlib.decompressobj()
    inflated = 0
    seen_idat = False
    pos = 8
    while True:
        if pos + 8 > size:
            return "truncated: the data ends before the PNG IEND chunk"
        length, kind = struct.unpack_from(">I4s", data, pos)
        name = kind.decode("latin-1")
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            return f"truncated: the {name!r} chunk at byte {pos} runs past the end of the data"
        if zlib.crc32(view[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            return f"the {name!r} chunk at byte {pos} fails its CRC check"
        if kind == b"IDAT":
            seen_idat = True
            for start in range(pos + 8, end - 4, _INFLATE_IN):
                piece: bytes | memoryview = view[start : min(start + _INFLATE_IN, end - 4)]
                while piece:
                    inflated += len(inflater.decompress(piece, _INFLATE_OUT))
                    piece = inflater.unconsumed_tail
                    if expected is not None and inflated > expected:
                        return (
                            f"its pixel data inflates to more than the {expected:,} bytes its "
                            "header allows (corrupt data or a decompression bomb)"
                        )
        elif kind == b"IEND":
            if not seen_idat:
                return "it has no IDAT (pixel data) chunk"
            if not inflater.eof:
                return "truncated: its compressed pixel data stops before the end of the zlib stream"
            if expected is not None and inflated != expected:
                return f"its pixel data holds {inflated:,} bytes, its header needs {expected:,}"
            return None
        pos = end


# --- WebP -----------------------------------------------------------------------------


_VP8_START_CODE = b"\x9d\x01\x2a"
_VP8L_SIGNATURE = 0x2F
#: Chunks that hold (or, for ANMF, wrap) a picture.
_WEBP_FRAMES = (b"VP8 ", b"VP8L", b"ANMF")


def _webp_problem(data: bytes) -> str | None:
    """Walk the RIFF container: every chunk length, and each picture's bitstream header.

    Pixels are not decoded: a full WebP decode costs several times the file in memory
    (libwebp's canvases plus Pillow's image), against the ~3x budget. What is checked
    catches truncation and broken structure: chunk lengths, a picture present, the
    VP8 key-frame start code and first-partition length, the VP8L signature. Bytes after
    the RIFF payload are allowed (padding); corruption inside the compressed pixels is
    not detected, as for JPEG.
    """
    size = len(data)
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if riff_end > size:
        return f"truncated: its RIFF header announces {riff_end:,} bytes, the data holds {size:,}"
    problem, pictures = _webp_chunks(data, 12, riff_end)
    if problem is None and not pictures:
        problem = "it holds no picture (no VP8, VP8L or ANMF chunk)"
    return problem


def _webp_chunks(data: bytes, pos: int, end: int) -> tuple[str | None, int]:
    """Walk the chunks in ``data[pos:end]``: ``(problem or None, pictures seen)``."""
    pictures = 0
    while pos < end:
        if pos + 8 > end:
            return f"a WebP chunk header at byte {pos} is cut short", pictures
        fourcc = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body, body_end = pos + 8, pos + 8 + length
        if body_end > end:
            name = fourcc.decode("latin-1")
            return f"truncated: the {name!r} chunk at byte {pos} runs past the end of its container", pictures
        if fourcc in _WEBP_FRAMES:
            pictures += 1
            problem = _webp_picture_problem(data, fourcc, body, body_end)
            if problem is not None:
                return problem, pictures
        pos = body_end + (length & 1)
    return None, pictures


def _webp_picture_problem(data: bytes, fourcc: bytes, body: int, end: int) -> str | None:
    if fourcc == b"VP8L":
        if end - body < 5 or data[body] != _VP8L_SIGNATURE:
            return f"the lossless (VP8L) picture at byte {body} lacks its signature"
        return None
    if fourcc == b"ANMF":  # 16 bytes of frame geometry, then the frame's own chunks
        problem, pictures = _webp_chunks(data, body + 16, end)
        return problem or (None if pictures else f"the animation frame at byte {body} holds no picture")
    if end - body < 10:
        return f"the lossy (VP8) picture at byte {body} is cut short"
    tag = int.from_bytes(data[body : body + 3], "little")
    if tag & 1:
        return "its lossy (VP8) picture does not start with a key frame"
    if data[body + 3 : body + 6] != _VP8_START_CODE:
        return f"the lossy (VP8) picture at byte {body} lacks its start code"
    first_partition = (tag >> 5) & 0x7FFFF
    if body + 10 + first_partition > end:
        return "truncated: the lossy (VP8) picture's first partition runs past its chunk"
    return None


def _pillow_load_problem(data: bytes, image_format: str) -> str | None:
    """Decode the image: for any format a future spec allows that has no walk here.

    Decoding is the only complete check Pillow offers (``verify`` is a no-op for most
    formats); the pixel count was already accepted by the decompression-bomb guard.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=[image_format]) as image:
            image.load()
    return None
