"""The output files the simulator serves: deterministic bytes that look like an MP4.

A downloader under test must stream real bytes, check them against the announced
Content-Length and write them atomically; it never decodes video. So the file is an
ISO-BMFF ``ftyp`` box (what ``file(1)`` and browsers sniff), a ``free`` box carrying
the generation id (so two generations' files differ) and an ``mdat`` box of filler.
The filler is built once per size and cached: serving costs one copy, no hashing.
"""

from __future__ import annotations

import functools
import struct

CONTENT_TYPE = "video/mp4"
_FTYP = struct.pack(">I", 32) + b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
_ID_BYTES = 32
_FREE_HEADER = struct.pack(">I", 8 + _ID_BYTES) + b"free"
_HEADER_BYTES = len(_FTYP) + len(_FREE_HEADER) + _ID_BYTES + 8
#: Smallest file that still holds every box.
MIN_FILE_SIZE = _HEADER_BYTES


@functools.lru_cache(maxsize=8)
def _template(size: int) -> bytes:
    """Header plus filler for ``size`` bytes; the id slot is left blank."""
    mdat_size = size - len(_FTYP) - len(_FREE_HEADER) - _ID_BYTES
    pattern = bytes(range(256))
    filler = (pattern * (size // 256 + 1))[: size - _HEADER_BYTES]
    return _FTYP + _FREE_HEADER + bytes(_ID_BYTES) + struct.pack(">I", mdat_size) + b"mdat" + filler


def file_size(requested: int) -> int:
    """The size actually served: ``requested``, raised to the minimum that holds the boxes."""
    return max(requested, MIN_FILE_SIZE)


def video_bytes(generation_id: str, size: int) -> bytes:
    """The file of ``generation_id``: the same bytes every time for the same id and size."""
    size = file_size(size)
    data = bytearray(_template(size))
    start = len(_FTYP) + len(_FREE_HEADER)
    tag = generation_id.encode("utf-8")[:_ID_BYTES]
    data[start : start + len(tag)] = tag
    return bytes(data)
