"""An ``http(s)`` image, checked before paying by reading only what the checks need.

A ranged ``GET`` asks for the first :data:`HEAD_BYTES` bytes: enough for Pillow to
read the format and the pixel size of nearly every image, and the total size comes
with it (``Content-Range``). The same checks as for a file then run on those bytes
(:func:`~._checks.inspect_header`: format, size limit, short side, aspect ratio) with
the same messages. The whole image is read (bounded by the size limit), and its
integrity walked as a file's is, only when it must be:

* the server ignores ranges (``200``): the whole answer arrives anyway;
* the total size is unknown (``Content-Range: bytes 0-65535/*``);
* the header is not within the first bytes (a JPEG with a large embedded profile), or
  Pillow needs the whole file to read it (WebP: its reader decodes the whole file).

What a URL gets:

==============================================  =======================================
answer                                          outcome
==============================================  =======================================
an image within every limit                     accepted; the URL is sent unchanged
a 404 or 410                                    refused (not retried): it does not exist
401/403, other 4xx                              refused, naming the status (and the switch)
``Content-Type`` neither ``image/*`` nor        refused: "served as text/html, not an image"
``application/octet-stream``
a format, size or pixel rule broken             refused, as for a file
408, 429, 5xx, a timeout, a connection error    retryable (the next try checks again)
more than 5 redirects, a redirect to another    refused
scheme
==============================================  =======================================

Time is bounded per URL (:data:`URL_CHECK_SECONDS`, every hop and byte included). The
connection's timeouts, TLS and proxy rules apply (:func:`~airflow_provider_i2v.hooks.clients.fetch_client`);
the key is never sent. Unlike an output download, a private or loopback address is
allowed: the image URL is the DAG author's own choice.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx

from airflow_provider_i2v.hooks.clients import open_url
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.images._checks import (
    ImageFacts,
    Refusal,
    inspect_header,
    inspect_image,
    sniff_format,
)
from airflow_provider_i2v.images._sources import ReadFailure, size_refusal
from airflow_provider_i2v.protocol import ModelSpec

#: Bytes asked for first: Pillow finds the format and size of JPEG, PNG and WebP within them.
HEAD_BYTES = 64 * 1024
#: Longest one URL's check may take, redirects and reading included.
URL_CHECK_SECONDS = 30.0
#: Media types a server may give an image without naming its format.
_GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", ""})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_SWITCH = (
    "if the gateway can read it although this worker cannot, switch the check off (check_image_url=False)"
)


class UnreachableImage(ReadFailure):
    """The URL could not be checked now (timeout, 5xx, 429, network): a retry checks again."""


@dataclass(frozen=True)
class RemoteImage:
    """What the check learned: the image's facts, its size (``None``: not announced and not
    read whole) and how much was read."""

    facts: ImageFacts
    size: int | None
    bytes_read: int


def check_remote_image(url: str, spec: ModelSpec, label: str, settings: ConnectionSettings) -> RemoteImage:
    """Check the image at ``url`` against ``spec``; raise :class:`Refusal` or :class:`UnreachableImage`."""
    deadline = time.monotonic() + URL_CHECK_SECONDS
    data, total, whole = _fetch(url, spec, label, settings, deadline, ranged=True)
    if whole:
        return RemoteImage(inspect_image(data, spec, label), len(data), len(data))
    if total is not None:
        try:
            return RemoteImage(inspect_header(data, spec, label), total, len(data))
        except Refusal:
            if sniff_format(data) not in spec.image_media_types:
                raise  # a GIF, an HTML page...: the first bytes already say enough
    # The header lies beyond the first bytes, or the size is unknown: read it all (bounded).
    data, total, _ = _fetch(url, spec, label, settings, deadline, ranged=False)
    return RemoteImage(inspect_image(data, spec, label), len(data), len(data))


def _fetch(
    url: str, spec: ModelSpec, label: str, settings: ConnectionSettings, deadline: float, *, ranged: bool
) -> tuple[bytes, int | None, bool]:
    """``(bytes read, total size if known, whether they are the whole image)``."""
    headers = {"Accept": "image/*", "Accept-Encoding": "identity"}
    if ranged:
        headers["Range"] = f"bytes=0-{HEAD_BYTES - 1}"
    try:
        with open_url(settings, url, headers=headers, deadline=deadline) as response:
            _check_status(response.status_code, label)
            _check_content_type(response.headers.get("Content-Type"), label)
            partial = response.status_code == 206
            total = _total_size(response, partial)
            limit = spec.image_max_bytes
            if total is not None and total >= limit:
                raise size_refusal(label, total, limit)
            wanted = HEAD_BYTES if partial else limit
            data = _read(response, wanted, deadline, label)
            if not partial and len(data) >= limit:
                raise size_refusal(label, len(data), limit, at_least=True)
            whole = not partial or (total is not None and len(data) >= total)
            return data[:total] if partial and total is not None else data, total, whole
    except (httpx.UnsupportedProtocol, httpx.TooManyRedirects) as exc:
        raise Refusal(f"{label} cannot be followed: {exc}") from None
    except httpx.TimeoutException:
        raise UnreachableImage(
            f"{label} did not answer within {URL_CHECK_SECONDS:g} s (timeout); {_SWITCH}"
        ) from None
    except httpx.HTTPError as exc:
        raise UnreachableImage(
            f"{label} could not be reached ({type(exc).__name__}: {exc or 'no detail'}); {_SWITCH}"
        ) from None


def _check_status(status: int, label: str) -> None:
    if status in (200, 206):
        return
    if status in (404, 410):
        raise Refusal(f"{label} does not exist (HTTP {status})")
    if status == 416:  # the first byte is beyond the end: nothing there
        raise Refusal(f"{label} is empty (0 bytes, HTTP 416); it holds no image")
    if status in (408, 429) or status >= 500:
        raise UnreachableImage(f"{label} answered HTTP {status}")
    if status in (401, 403):
        raise Refusal(f"{label} cannot be read (HTTP {status}: access denied); {_SWITCH}")
    raise Refusal(f"{label} answered HTTP {status}, not an image")


def _check_content_type(raw: str | None, label: str) -> None:
    media = (raw or "").partition(";")[0].strip().lower()
    if media.startswith("image/") or media in _GENERIC_TYPES:
        return  # the bytes decide (a GIF served as image/jpeg is still named a GIF)
    raise Refusal(f"{label} is served as {media}, not an image")


def _total_size(response: httpx.Response, partial: bool) -> int | None:
    """The image's size: ``Content-Range``'s total for a part, ``Content-Length`` for the whole."""
    if partial:
        match = _CONTENT_RANGE.fullmatch((response.headers.get("Content-Range") or "").strip())
        if match is None or match.group(1) != "0" or match.group(3) == "*":
            return None  # not the part asked for, or no total: the whole image is read instead
        return int(match.group(3))
    raw = (response.headers.get("Content-Length") or "").strip()
    return int(raw) if raw.isdigit() and not response.headers.get("Content-Encoding") else None


def _read(response: httpx.Response, wanted: int, deadline: float, label: str) -> bytes:
    """At most ``wanted`` bytes of the body (a server may send more than the range asked)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        if time.monotonic() > deadline:
            raise UnreachableImage(f"{label} took longer than {URL_CHECK_SECONDS:g} s to read; {_SWITCH}")
        chunks.append(chunk)
        size += len(chunk)
        if size >= wanted:
            break
    data = b"".join(chunks)
    return data[:wanted]
