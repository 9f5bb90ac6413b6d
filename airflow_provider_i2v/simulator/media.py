"""The output files the simulator serves: cheap synthetic bytes, or a real rendered MP4.

``synthetic`` (the default): a downloader under test must stream real bytes, check
them against the announced Content-Length and write them atomically; it never decodes
video. So the file is an ISO-BMFF ``ftyp`` box (what ``file(1)`` and browsers sniff),
a ``free`` box carrying the generation id (so two generations' files differ) and an
``mdat`` box of filler, built once per size and cached.

``rendered``: a playable H.264 MP4 of the first frame the create was sent (a slow
zoom and pan over it; :mod:`.video`), for a person to watch in the demo. The frame is
decoded when the generation is created; the video is rendered at its first download,
in a thread, and cached per image. Rendering is deterministic, so the same
generation always serves the same bytes, even after the video left the cache. Both
caches are bounded; a generation whose frame has left it serves 404, as an expired
CDN link does on the real gateway. PyAV and Pillow are imported only when rendering.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import struct
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from PIL.Image import Image

CONTENT_TYPE = "video/mp4"
_FTYP = struct.pack(">I", 32) + b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41"
_ID_BYTES = 32
_FREE_HEADER = struct.pack(">I", 8 + _ID_BYTES) + b"free"
_HEADER_BYTES = len(_FTYP) + len(_FREE_HEADER) + _ID_BYTES + 8
#: Smallest file that still holds every box.
MIN_FILE_SIZE = _HEADER_BYTES
#: Distinct first frames and rendered videos kept (a frame is ~1 MB, a video ~0.3 MB).
FRAME_CACHE_SIZE = 32
VIDEO_CACHE_SIZE = 16

K = TypeVar("K")
V = TypeVar("V")


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
    """The synthetic file of ``generation_id``: the same bytes every time for the same id and size."""
    size = file_size(size)
    data = bytearray(_template(size))
    start = len(_FTYP) + len(_FREE_HEADER)
    tag = generation_id.encode("utf-8")[:_ID_BYTES]
    data[start : start + len(tag)] = tag
    return bytes(data)


@dataclass(frozen=True)
class MediaSpec:
    """What a generation's file is, fixed at its creation: synthetic bytes, or a rendering."""

    size: int = 0
    #: Rendered: the first frame's key in the library, and the video's geometry.
    source: str | None = None
    width: int = 0
    height: int = 0
    fps: int = 0
    seconds: int = 0

    @property
    def rendered(self) -> bool:
        return self.source is not None


class _Bounded(Generic[K, V]):
    """A small thread-safe LRU map (the test thread may reset while the server reads)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._items: collections.OrderedDict[K, V] = collections.OrderedDict()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._limit:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class MediaLibrary:
    """The bytes each generation's file is made of, rendered once per image and cached."""

    def __init__(self) -> None:
        self._frames: _Bounded[str, Image] = _Bounded(FRAME_CACHE_SIZE)
        self._videos: _Bounded[MediaSpec, bytes] = _Bounded(VIDEO_CACHE_SIZE)
        self._pending: dict[MediaSpec, asyncio.Future[bytes]] = {}
        #: Seconds each rendering took, newest last (for benchmarks and the docs' figure).
        self.render_seconds: collections.deque[float] = collections.deque(maxlen=100)

    def clear(self) -> None:
        self._frames.clear()
        self._videos.clear()
        self.render_seconds.clear()

    async def prepare(self, image: str, *, width: int, height: int, fps: int, seconds: int) -> MediaSpec:
        """Decode the first frame of ``image`` (off the event loop) and keep it for rendering."""
        from . import frames

        key, frame = await asyncio.to_thread(frames.prepare, image, width, height)
        self._frames.put(key, frame)
        return MediaSpec(source=key, width=width, height=height, fps=fps, seconds=seconds)

    async def file_bytes(self, generation_id: str, spec: MediaSpec) -> bytes | None:
        """The file's bytes; ``None`` when a rendering's first frame has left the cache."""
        if not spec.rendered:
            return video_bytes(generation_id, spec.size)
        cached = self._videos.get(spec)
        if cached is not None:
            return cached
        pending = self._pending.get(spec)
        if pending is None:
            frame = self._frames.get(spec.source or "")
            if frame is None:
                return None
            pending = asyncio.ensure_future(self._render(spec, frame))
            self._pending[spec] = pending
            pending.add_done_callback(lambda _: self._pending.pop(spec, None))
        return await asyncio.shield(pending)

    async def _render(self, spec: MediaSpec, frame: Image) -> bytes:
        from . import video

        data, seconds = await asyncio.to_thread(
            video.render_timed,
            frame,
            width=spec.width,
            height=spec.height,
            fps=spec.fps,
            seconds=spec.seconds,
        )
        self.render_seconds.append(seconds)
        self._videos.put(spec, data)
        return data
