"""Where an image comes from: local files, Airflow object storage and data URLs, read within the limit.

Every reader checks the size it can know before reading (``fstat``, the object
store's ``info``, a data URL's base64 length) and never reads more than
``image_max_bytes`` bytes, so a mistaken 5 GB path costs one ``stat`` call, not 5 GB
of memory. Failures that describe the input (missing file, a directory, an unknown
scheme) are :class:`Refusal`; failures of the storage itself (network, I/O errors)
are :class:`ReadFailure`, which stays retryable.
"""

from __future__ import annotations

import binascii
import os
import re
import stat
from typing import IO, Any

from airflow_provider_i2v.images._checks import Refusal, format_bytes

#: ``scheme://``: an object-storage URI (``file://``, ``s3://``, ``gs://`` ...).
URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: Media types some tools write for JPEG that mean the same thing.
MEDIA_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}

_CHUNK = 1024 * 1024
#: base64 characters decoded per step (a multiple of 4): bounds the temporary copies.
_B64_STEP = 4 * 256 * 1024


class ReadFailure(Exception):
    """The storage failed while reading (possibly transient); the message completes ``"<field>: ..."``."""


def size_refusal(
    label: str, size: int, limit: int, *, encoded_chars: int | None = None, at_least: bool = False
) -> Refusal:
    """The size error. The limit is on the image bytes; base64 text is a third longer than them.

    ``at_least``: reading stopped at the limit, so the real size is unknown (and larger).
    """
    seen = f"{'at least ' if at_least else ''}{size:,} bytes ({format_bytes(size)})"
    if encoded_chars is not None:
        seen += f" of image data once decoded from its {encoded_chars:,} base64 characters"
    return Refusal(
        f"{label} is {seen}; the image must be less than {limit:,} bytes ({format_bytes(limit)}, "
        "decimal). The limit applies to the image bytes themselves, not to the base64 data URL, "
        "which is about a third longer"
    )


def read_bounded(stream: IO[bytes] | Any, limit: int, expected: int | None, label: str) -> bytes:
    """Read all of ``stream`` but refuse as soon as ``limit`` bytes have been seen.

    With ``expected`` known (from a stat), one read of ``expected + 1`` bytes both
    fetches the file and proves it did not grow, without a second copy.
    """
    chunks: list[bytes] = []
    total = 0
    want = min(expected + 1, limit) if expected else min(_CHUNK, limit)
    while total < limit:
        chunk = stream.read(min(want, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = _CHUNK
    if total >= limit:
        raise size_refusal(label, total, limit, at_least=True)
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


def read_local(path: str, limit: int, label: str) -> bytes:
    """A local regular file's bytes. Opened non-blocking so a FIFO or device cannot hang the worker."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise Refusal(f"{label} does not exist") from None
    except IsADirectoryError:
        raise Refusal(f"{label} is a directory, not an image file") from None
    except NotADirectoryError:
        raise Refusal(f"{label} does not exist (a parent of it is not a directory)") from None
    except PermissionError:
        raise Refusal(f"{label} cannot be read: permission denied") from None
    except (ValueError, TypeError) as exc:  # e.g. an embedded NUL byte
        raise Refusal(f"{label} is not a valid file path ({exc})") from None
    except OSError as exc:  # name too long, symlink loop...: the path itself is wrong
        raise Refusal(f"{label} cannot be opened ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise Refusal(f"{label} is a directory, not an image file")
        if not stat.S_ISREG(info.st_mode):
            raise Refusal(f"{label} is not a regular file (a device, FIFO or socket)")
        if info.st_size >= limit:
            raise size_refusal(label, info.st_size, limit)
        stream = open(fd, "rb", buffering=0)  # noqa: SIM115 - closed by the with below
    except BaseException:
        os.close(fd)
        raise
    with stream:
        try:
            return read_bounded(stream, limit, info.st_size, label)
        except OSError as exc:
            raise ReadFailure(f"{label} could not be read ({exc})") from exc


def _storage_refusal(label: str, exc: Exception) -> Exception:
    """Sort an object-storage exception: a problem of the input, or of the storage (retryable)."""
    if isinstance(exc, FileNotFoundError):
        return Refusal(f"{label} does not exist")
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return Refusal(f"{label} is not a file")
    if isinstance(exc, PermissionError):
        return Refusal(f"{label} cannot be read: permission denied ({exc})")
    missing_connection = type(exc).__name__ == "AirflowNotFoundException"
    if isinstance(exc, ValueError | TypeError | ImportError | KeyError) or missing_connection:
        return Refusal(
            f"{label} cannot be opened through Airflow object storage ({type(exc).__name__}: {exc}); "
            "is the provider for this scheme installed and its connection defined?"
        )
    return ReadFailure(f"{label} could not be read from object storage ({type(exc).__name__}: {exc})")


def read_object(path: Any, limit: int, label: str) -> bytes:
    """An ``ObjectStoragePath``'s bytes: its size is taken from the store's ``info`` before reading."""
    try:
        info = path.stat()
        mode = int(getattr(info, "st_mode", 0) or 0)
        if stat.S_ISDIR(mode):
            raise Refusal(f"{label} is a directory, not an image file")
        if mode and not stat.S_ISREG(mode):
            raise Refusal(f"{label} is not a regular file")
        size = getattr(info, "st_size", None)
        expected = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None
        if expected is not None and expected >= limit:
            raise size_refusal(label, expected, limit)
        with path.open("rb") as stream:
            return read_bounded(stream, limit, expected, label)
    except (Refusal, ReadFailure):
        raise
    except Exception as exc:
        raise _storage_refusal(label, exc) from exc


def describe_data_url(text: str) -> str:
    """A data URL without its bytes; also safe for a "data URL" that has no comma at all."""
    comma = text.find(",", 0, 512)
    if comma < 0:
        return f"{text[:40]}...<{len(text):,} characters, no ','>"
    # as protocol.describe_image_reference words it, without its copy of the payload
    return f"{text[:comma]},<{len(text) - comma - 1} base64 characters>"


def parse_data_url(text: str, media_types: set[str]) -> tuple[str, int]:
    """``(declared media type, index where the base64 payload starts)`` of a ``data:image/...;base64,`` URL.

    ``image/jpg`` is read as ``image/jpeg``. Only base64 data URLs are images the gateway reads.
    """
    label = f"data URL {describe_data_url(text)}"
    comma = text.find(",", 0, 512)
    if comma < 0:
        raise Refusal(f"{label} is not a valid data URL: no ',' separates its header from its data")
    media, *params = (part.strip().lower() for part in text[len("data:") : comma].split(";"))
    media = MEDIA_TYPE_ALIASES.get(media, media)
    if not media.startswith("image/"):
        raise Refusal(
            f"{label} has media type {media or '(none)'!r}; expected a data:image/...;base64, URL "
            f"with one of {', '.join(sorted(media_types))}"
        )
    if "base64" not in params:
        raise Refusal(f"{label} is not base64-encoded; expected data:{media};base64,<data>")
    return media, comma + 1


def decoded_size(text: str, start: int, label: str) -> int:
    """The image size a base64 payload decodes to, known before decoding it."""
    length = len(text) - start
    if length == 0:
        raise Refusal(f"{label} is empty (0 bytes); it holds no image")
    if length % 4:
        raise Refusal(
            f"{label} does not hold valid base64: {length:,} characters is not a multiple of 4 "
            "(line breaks, spaces and the URL-safe alphabet are not accepted)"
        )
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return length // 4 * 3 - padding


def decode_base64(text: str, start: int, label: str) -> bytes:
    """Strictly decode ``text[start:]`` in steps, so the temporary copies stay small."""
    try:
        parts = [
            binascii.a2b_base64(text[begin : begin + _B64_STEP], strict_mode=True)
            for begin in range(start, len(text), _B64_STEP)
        ]
    except (binascii.Error, ValueError) as exc:
        raise Refusal(
            f"{label} does not hold valid base64 ({exc}); line breaks, spaces and the URL-safe "
            "alphabet are not accepted"
        ) from None
    return parts[0] if len(parts) == 1 else b"".join(parts)
