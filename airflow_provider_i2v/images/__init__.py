"""``first_frame_image``: accept every place a pipeline keeps an image, refuse what the gateway would.

:func:`prepare_first_frame_image` turns the value a DAG author passes into the string
the create request carries, and refuses, before any request is sent (so before
anything is paid for), every image the gateway would refuse:

* an ``http(s)`` URL is checked by reading only what the checks need (a ranged
  ``GET`` of its first bytes; see ``_remote``) and then sent to the gateway unchanged,
  which fetches it itself. ``check_url=False`` skips that check (a URL the gateway can
  read but this worker cannot), and the log says so;
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
a storage failure while reading (network, I/O error, an image server's timeout or 5xx)
is a retryable :class:`~airflow_provider_i2v.exceptions.I2VTransientError`.

:func:`check_image_urls` checks the http(s) images of a batch concurrently, before
its first create, and returns every bad one at once.

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
import logging
import os
import reprlib
import sys
from collections.abc import Callable, Sequence
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
    from airflow_provider_i2v.hooks.settings import ConnectionSettings

__all__ = [
    "URL_CHECK_CONCURRENCY",
    "PreparedImage",
    "check_image_urls",
    "prepare_first_frame_image",
    "prepare_image_urls",
]

log = logging.getLogger(__name__)
#: URLs a batch checks at once.
URL_CHECK_CONCURRENCY = 16

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
    #: ``"image/png"``...; ``None`` for an http(s) URL that was not checked.
    media_type: str | None
    #: Size of the image bytes (not of the base64 text); ``None`` for an unchecked URL.
    size_bytes: int | None
    width: int | None
    height: int | None
    #: For an http(s) URL: how many of its bytes the check read (``None``: not checked).
    bytes_read: int | None = None

    def describe(self) -> str:
        """One log line, e.g. ``local file /data/a.png (PNG, 1.2 MB, 1280x720)``."""
        words = _KIND_WORDS.get(self.kind, self.kind)
        if self.media_type is None or self.size_bytes is None:
            return f"{words} {self.source} (not checked: the gateway reads it)"
        image_format = self.media_type.partition("/")[2].upper()
        read = ""
        if self.kind == "url" and self.bytes_read is not None:
            read = f"; checked from its first {format_bytes(self.bytes_read)}"
        return (
            f"{words} {self.source} ({image_format}, {format_bytes(self.size_bytes)}, "
            f"{self.width}x{self.height}{read})"
        )


def prepare_first_frame_image(
    value: object,
    spec: ModelSpec = MINIMAX_I2V_01_LIVE,
    *,
    field: str = "first_frame_image",
    check_url: bool = True,
    settings: ConnectionSettings | None = None,
) -> PreparedImage:
    """Check ``value`` against ``spec``'s image rules and return what the request should carry.

    ``value`` is an http(s) URL, a ``data:image/...;base64,`` URL, an object-storage
    URI (any other ``scheme://``), a local path (``~`` expanded), an ``os.PathLike``
    or an ``ObjectStoragePath``. The size limit (``spec.image_max_bytes``) applies to
    the image bytes, not to the base64 text, which is about a third longer.

    An http(s) URL is fetched in part and checked (``check_url=False``: passed through
    unchecked, and a warning says so); ``settings`` are the ``i2v`` connection's, whose
    timeout, TLS verification and proxy apply (``None``: the defaults, the
    environment's proxy variables).

    :raises I2VInvalidRequestError: the gateway would refuse the image (or the value
        is of no accepted kind); the message names ``field``, the value and the limit.
    :raises I2VTransientError: reading from storage or from the image's server failed
        in a way a retry may fix.
    """
    try:
        return _prepare(value, spec, check_url, settings, field)
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
    from airflow_provider_i2v.exceptions import I2VInvalidRequestError, I2VTransientError

    return I2VTransientError(message) if retryable else I2VInvalidRequestError(message)


def check_image_urls(
    urls: Sequence[object],
    *,
    model: ModelSpec = MINIMAX_I2V_01_LIVE,
    settings: ConnectionSettings | None = None,
    concurrency: int = URL_CHECK_CONCURRENCY,
    field: str = "images",
) -> dict[int, I2VError]:
    """Check every http(s) image of ``urls`` at once (``concurrency`` at a time); return
    ``{index: error}`` for each bad one, empty when all are fine.

    Items that are not http(s) URLs are skipped (files and data URLs are checked where
    they are read). Each error is what :func:`prepare_first_frame_image` raises for that
    item, its message starting ``"<field>[<index>]: "``: an
    :class:`~airflow_provider_i2v.exceptions.I2VInvalidRequestError` for an image the
    gateway would refuse, an :class:`~airflow_provider_i2v.exceptions.I2VTransientError`
    for one that could not be checked now. Threads, not an event loop: a worker calls it,
    from synchronous code, before its first create.
    """
    return prepare_image_urls(urls, model=model, settings=settings, concurrency=concurrency, field=field)[1]


def prepare_image_urls(
    urls: Sequence[object],
    *,
    model: ModelSpec = MINIMAX_I2V_01_LIVE,
    settings: ConnectionSettings | None = None,
    concurrency: int = URL_CHECK_CONCURRENCY,
    field: str = "images",
) -> tuple[dict[int, PreparedImage], dict[int, I2VError]]:
    """:func:`check_image_urls`, also returning the checked images: ``({index: image},
    {index: error})``. A :class:`PreparedImage` given back to
    :func:`prepare_first_frame_image` is returned as it is, so the items need not be
    fetched a second time (nor logged as unchecked)."""
    from concurrent.futures import ThreadPoolExecutor

    indexed = [(i, url) for i, url in enumerate(urls) if isinstance(url, str) and _is_http(url)]
    if not indexed:
        return {}, {}

    def check(item: tuple[int, str]) -> tuple[int, PreparedImage | I2VError]:
        from airflow_provider_i2v.exceptions import I2VError

        index, url = item
        try:
            return index, prepare_first_frame_image(url, model, field=f"{field}[{index}]", settings=settings)
        except I2VError as exc:
            return index, exc

    workers = max(1, min(concurrency, len(indexed)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="i2v-url") as pool:
        results = list(pool.map(check, indexed))
    good = {index: found for index, found in results if isinstance(found, PreparedImage)}
    bad = {index: found for index, found in results if not isinstance(found, PreparedImage)}
    return good, bad


def _is_http(text: str) -> bool:
    return text.strip()[:8].lower().startswith(("http://", "https://"))


def _prepare(
    value: object, spec: ModelSpec, check_url: bool, settings: ConnectionSettings | None, field: str
) -> PreparedImage:
    if isinstance(value, PreparedImage):
        return value  # checked already (prepare_image_urls)
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
            return _from_url(text, spec, check_url, settings, field)
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


def _from_url(
    url: str, spec: ModelSpec, check_url: bool, settings: ConnectionSettings | None, field: str
) -> PreparedImage:
    """Check the image at ``url`` (unless told not to); the request carries ``url`` unchanged."""
    source = _loggable_url(url)
    if not check_url:
        log.warning(
            "%s: the http(s) URL %s was NOT checked (check_image_url=False): the gateway reads it as it "
            "is, and an image it refuses is found out only after the create",
            field,
            source,
        )
        return PreparedImage(url, "url", source, None, None, None, None)
    from airflow_provider_i2v.hooks.settings import ConnectionSettings
    from airflow_provider_i2v.images._remote import check_remote_image

    options = settings or ConnectionSettings(base_url="https://unused.invalid", api_key="")
    found = check_remote_image(url, spec, f"http(s) URL {source}", options)
    facts = found.facts
    return PreparedImage(
        url, "url", source, facts.media_type, found.size, facts.width, facts.height, found.bytes_read
    )


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
