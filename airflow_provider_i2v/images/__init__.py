"""``first_frame_image``: accept every place a pipeline keeps an image, refuse what the gateway would.

:func:`prepare_first_frame_image` turns the value a DAG author passes into the string
the create request carries, and refuses, before any request is sent (so before
anything is paid for), every image the gateway would refuse:

* a public ``http(s)`` URL is passed through unchanged. It is not fetched: the
  gateway fetches it, and downloading it on the worker would only add a second
  point of failure;
* a ``data:image/...;base64,`` URL is strictly decoded and checked, and its declared
  media type must match what its bytes really are;
* a local path (``str`` with ``~`` expanded, or ``os.PathLike``), an
  ``ObjectStoragePath``, or an object-storage URI (``file://``, ``s3://``,
  ``gs://``..., read through Airflow's object storage) is read, checked and sent
  as a data URL with the media type of its bytes.

The checks read the model's limits from the :class:`~airflow_provider_i2v.protocol.ModelSpec`
(never a copy of them): format JPEG/PNG/WebP decided from the bytes (a GIF named
``.jpg`` is a GIF), size, short side, aspect ratio, and integrity (truncated or
corrupt images). **The size limit applies to the image bytes**, not to the data URL:
base64 makes the text about a third longer, so a 19.9 MB image travels as ~26.5 MB of
base64 and is accepted.

Every refusal is an :class:`~airflow_provider_i2v.exceptions.I2VInvalidRequestError`
(the task fails at once, without retries) whose message names the field, the value
seen (a data URL only by its header and length, never its bytes) and the limit. Only
a storage failure while reading (network, I/O error) is a retryable
:class:`~airflow_provider_i2v.exceptions.I2VError`.

Costs: sizes are checked from ``stat``/object-storage ``info``/base64 length before
reading, reading stops at the limit, dimensions come from the header, and pixels are
never decoded (integrity is checked by walking each format's structure, see
``_integrity``). Peak memory is about 2.7x the image for JPEG and PNG (the bytes, then
the base64 text while it becomes a ``str``; ``benchmarks/bench_images.py`` measures
it), 3x for WebP (Pillow's WebP reader copies the file). Importing this module imports
neither Pillow nor Airflow (nor httpx or fsspec): both are loaded on first use.
"""

from __future__ import annotations

import binascii
import os
import reprlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_i2v.images._checks import Refusal, format_bytes, inspect_image
from airflow_provider_i2v.images._sources import (
    URI_SCHEME,
    ReadFailure,
    decode_base64,
    decoded_size,
    describe_data_url,
    parse_data_url,
    read_local,
    read_object,
    size_refusal,
)
from airflow_provider_i2v.protocol import (
    MINIMAX_I2V_01_LIVE,
    ModelSpec,
    describe_image_reference,
    is_http_url,
)

if TYPE_CHECKING:
    from airflow_provider_i2v.exceptions import I2VError

__all__ = ["PreparedImage", "prepare_first_frame_image"]

_EXPECTED = "an http(s) URL, a data:image/...;base64, URL, a local file path or an ObjectStoragePath"
#: Image bytes encoded per step (a multiple of 3, so no padding mid-stream).
_ENCODE_STEP = 3 * 256 * 1024
_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxdict = _REPR.maxtuple = _REPR.maxset = 4
_KIND_WORDS = {"url": "http(s) URL", "data_url": "data URL", "file": "local file", "object_storage": "object"}


@dataclass(frozen=True)
class PreparedImage:
    """A checked ``first_frame_image``, ready for the request. ``repr`` never shows the data URL."""

    #: The request's ``first_frame_image``: the http(s) URL unchanged, or a data URL.
    url: str = field(repr=False)
    #: ``"url"``, ``"data_url"``, ``"file"`` or ``"object_storage"``.
    kind: str
    #: Where it came from, safe to log (a path or URI; a data URL's header; never image bytes).
    source: str
    #: ``"image/png"``...; ``None`` for http(s) URLs, which are not fetched.
    media_type: str | None
    #: Size of the image bytes (not of the base64 text); ``None`` for http(s) URLs.
    size_bytes: int | None
    width: int | None
    height: int | None

    def describe(self) -> str:
        """One log line, e.g. ``local file /data/a.png (PNG, 1.2 MB, 1280x720)``."""
        words = _KIND_WORDS.get(self.kind, self.kind)
        if self.media_type is None or self.size_bytes is None:
            return f"{words} {self.source} (not fetched: the gateway reads it)"
        image_format = self.media_type.partition("/")[2].upper()
        return (
            f"{words} {self.source} ({image_format}, {format_bytes(self.size_bytes)}, "
            f"{self.width}x{self.height})"
        )


def prepare_first_frame_image(
    value: object, spec: ModelSpec = MINIMAX_I2V_01_LIVE, *, field: str = "first_frame_image"
) -> PreparedImage:
    """Check ``value`` against ``spec``'s image rules and return what the request should carry.

    ``value`` is an http(s) URL, a ``data:image/...;base64,`` URL, an object-storage
    URI (any other ``scheme://``), a local path (``~`` expanded), an ``os.PathLike``
    or an ``ObjectStoragePath``. The size limit (``spec.image_max_bytes``) applies to
    the image bytes, not to the base64 text, which is about a third longer.

    :raises I2VInvalidRequestError: the gateway would refuse the image (or the value
        is of no accepted kind); the message names ``field``, the value and the limit.
    :raises I2VError: reading from storage failed in a way a retry may fix.
    """
    try:
        return _prepare(value, spec)
    except Refusal as refusal:
        raise _error(f"{field}: {refusal}") from None
    except ReadFailure as failure:
        raise _error(f"{field}: {failure}; this may be transient", retryable=True) from failure.__cause__
    except Exception as exc:  # a bug or an unforeseen library error must still read as a refusal
        raise _error(
            f"{field}: {_short_repr(value)} could not be checked ({type(exc).__name__}: {exc}); "
            "it is refused, not sent unchecked"
        ) from exc


def _error(message: str, *, retryable: bool = False) -> I2VError:
    # Imported here: the exceptions module imports Airflow, which this module must not load eagerly.
    from airflow_provider_i2v.exceptions import I2VError, I2VInvalidRequestError

    return I2VError(message) if retryable else I2VInvalidRequestError(message)


def _prepare(value: object, spec: ModelSpec) -> PreparedImage:
    storage_path = _as_object_storage_path(value)
    if storage_path is not None:
        return _from_object_storage(storage_path, spec)
    if isinstance(value, os.PathLike):
        return _from_local(_local_path(os.fsdecode(os.fspath(value))), spec)
    if isinstance(value, str):
        text = value.strip()
        head = text[:8].lower()
        if not text:
            raise Refusal(f"the value is empty ({value!r}); expected {_EXPECTED}")
        if head.startswith(("http://", "https://")):
            if not is_http_url(text):
                raise Refusal(f"{describe_image_reference(text)!r} is not a valid http(s) URL (no host)")
            return PreparedImage(text, "url", _loggable_url(text), None, None, None, None)
        if head.startswith("data:"):
            return _from_data_url(text, spec)
        if URI_SCHEME.match(text):
            return _from_object_storage(_object_storage_path_from_uri(text), spec)
        return _from_local(_local_path(text), spec)
    if isinstance(value, bytes | bytearray | memoryview):
        raise Refusal(
            f"got {len(value):,} raw bytes; raw bytes are not accepted, pass a "
            "data:image/...;base64, URL, a file path or an ObjectStoragePath"
        )
    if value is None:
        raise Refusal(f"no image given (the value is None); expected {_EXPECTED}")
    raise Refusal(f"got a {type(value).__name__} ({_short_repr(value)}); expected {_EXPECTED}")


def _local_path(path: str) -> str:
    """Absolute, ``~`` expanded: the log then says exactly which file was read."""
    return os.path.abspath(os.path.expanduser(path))


def _as_object_storage_path(value: object) -> Any | None:
    """``value`` if it is an ``ObjectStoragePath`` (or a remote ``UPath``), without importing either.

    An instance can only exist if its module was imported, so looking in
    ``sys.modules`` answers without paying Airflow's import cost for plain strings.
    """
    path_module = sys.modules.get("airflow.sdk.io.path")
    storage_class = getattr(path_module, "ObjectStoragePath", None)
    if storage_class is not None and isinstance(value, storage_class):
        return value
    upath_class = getattr(sys.modules.get("upath"), "UPath", None)
    if upath_class is not None and isinstance(value, upath_class) and not isinstance(value, os.PathLike):
        return value
    return None


def _object_storage_path_from_uri(uri: str) -> Any:
    from airflow.sdk import ObjectStoragePath

    try:
        return ObjectStoragePath(uri)
    except Exception as exc:
        raise Refusal(
            f"{describe_image_reference(uri)} is not a usable object-storage URI "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _from_object_storage(path: Any, spec: ModelSpec) -> PreparedImage:
    source = describe_image_reference(str(path))
    return _read_check_encode(lambda limit: read_object(path, limit, source), "object_storage", source, spec)


def _from_local(path: str, spec: ModelSpec) -> PreparedImage:
    source = describe_image_reference(path)
    return _read_check_encode(lambda limit: read_local(path, limit, source), "file", source, spec)


def _read_check_encode(
    load: Callable[[int], bytes], kind: str, source: str, spec: ModelSpec
) -> PreparedImage:
    """Read, check and encode, holding the raw bytes in this frame only.

    They are released before the base64 text becomes a ``str``, so the peak is the
    base64 bytes plus that ``str`` (~2.7x the image), not raw + bytes + ``str`` (~3.7x).
    """
    data = load(spec.image_max_bytes)
    facts = inspect_image(data, spec, source)
    size = len(data)
    encoded = _data_url_bytes(data, facts.media_type)
    del data
    return PreparedImage(
        encoded.decode("ascii"), kind, source, facts.media_type, size, facts.width, facts.height
    )


def _data_url_bytes(data: bytes, media_type: str) -> bytearray:
    """``data:<media_type>;base64,<data>`` as ASCII bytes, built in place (no temporary full-size copy)."""
    header = f"data:{media_type};base64,".encode("ascii")
    out = bytearray(len(header) + (len(data) + 2) // 3 * 4)
    out[: len(header)] = header
    pos = len(header)
    with memoryview(data) as view:
        for start in range(0, len(data), _ENCODE_STEP):
            chunk = binascii.b2a_base64(view[start : start + _ENCODE_STEP], newline=False)
            out[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
    return out


def _from_data_url(text: str, spec: ModelSpec) -> PreparedImage:
    """Check a data URL. Its size is known from the base64 length before anything is decoded."""
    source = describe_data_url(text)
    label = f"data URL {source}"
    declared, start = parse_data_url(text, set(spec.image_media_types.values()))
    size = decoded_size(text, start, label)
    if size >= spec.image_max_bytes:
        raise size_refusal(label, size, spec.image_max_bytes, encoded_chars=len(text) - start)
    data = decode_base64(text, start, label)
    facts = inspect_image(data, spec, label)
    size = len(data)
    del data
    if declared != facts.media_type:
        raise Refusal(
            f"{label} declares {declared} but its bytes are a {facts.format} image; "
            f"declare data:{facts.media_type};base64,"
        )
    canonical = f"data:{facts.media_type};base64,"
    url = text if start == len(canonical) and text.startswith(canonical) else canonical + text[start:]
    return PreparedImage(url, "data_url", source, facts.media_type, size, facts.width, facts.height)


def _loggable_url(url: str) -> str:
    """An http(s) URL for logs: credentials and query string (signed-URL tokens) hidden."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    shown = f"{parts.scheme}://{host}{parts.path}" + ("?<query hidden>" if parts.query else "")
    return describe_image_reference(shown)


def _short_repr(value: object) -> str:
    """A bounded repr: a multi-megabyte string, data URL or list must not end up in a message."""
    if isinstance(value, str):
        text = repr(describe_data_url(value) if value[:5].lower() == "data:" else value[:100])
    else:
        try:
            text = _REPR.repr(value)
        except Exception:  # a broken __repr__ must not hide the real problem
            text = f"<{type(value).__name__} object>"
    return text if len(text) <= 100 else text[:97] + "..."
