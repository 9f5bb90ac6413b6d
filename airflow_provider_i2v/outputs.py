"""Copy generated files to durable storage (the operator's ``output_dir``).

The gateway's output URLs are temporary signed links; a pipeline that needs the video
tomorrow copies it while the link is valid. Each file is streamed (never held whole
in memory) through Airflow's ``ObjectStoragePath`` (local disk, ``file://``, ``s3://``
and every other fsspec protocol), written under a temporary name and renamed only
once complete, so no partial file is ever visible under its final name, and checked
against the size the server announced.

No API key is sent with a download: output links are public signed URLs, often on
another host, and the key must never leave for a third party.
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from airflow_provider_i2v.exceptions import I2VTransientError
from airflow_provider_i2v.hooks.settings import ConnectionSettings

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
DOWNLOAD_ATTEMPTS = 3


class _IncompleteDownload(Exception):
    pass


def as_storage_path(target: Any) -> Any:
    """An ``ObjectStoragePath`` for a local path, a URI or an ``ObjectStoragePath``."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(target, ObjectStoragePath):
        return target
    text = os.fspath(target) if isinstance(target, os.PathLike) else str(target)
    if "://" not in text:
        text = "file://" + os.path.abspath(os.path.expanduser(text))
    return ObjectStoragePath(text)


def output_name(generation_id: str, url: str, index: int, count: int) -> str:
    """``<generation_id>.mp4``, or ``<generation_id>_<n>.<ext>`` when there are several files."""
    suffix = os.path.splitext(urlsplit(url).path)[1].lower()
    if not suffix or len(suffix) > 6:
        suffix = ".mp4"
    return f"{generation_id}{suffix}" if count == 1 else f"{generation_id}_{index + 1}{suffix}"


def _download(client: httpx.Client, url: str, destination: Any) -> int:
    temporary = destination.parent / f".{destination.name}.part-{uuid.uuid4().hex[:8]}"
    try:
        with client.stream("GET", url) as response:
            response.raise_for_status()
            announced = response.headers.get("Content-Length")
            written = 0
            with temporary.open("wb") as sink:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    sink.write(chunk)
                    written += len(chunk)
        # Content-Length counts bytes on the wire: compare it with what arrived, not with the
        # decoded size (a CDN may compress the answer).
        received = response.num_bytes_downloaded
        if announced is not None and int(announced) != received:
            raise _IncompleteDownload(f"received {received} bytes of the {announced} announced")
        temporary.rename(destination)
        return written
    except BaseException:
        try:
            if temporary.exists():
                temporary.unlink()
        except OSError:  # pragma: no cover - best effort
            log.warning("Could not remove partial file %s", temporary)
        raise


def copy_outputs(
    urls: list[str], output_dir: Any, generation_id: str, settings: ConnectionSettings
) -> list[str]:
    """Copy every URL into ``output_dir``; returns the files' URIs in the same order.

    The connection's proxy, TLS verification and timeout apply (never its key).
    """
    directory = as_storage_path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(DOWNLOAD_ATTEMPTS),
        wait=tenacity.wait_exponential_jitter(multiplier=0.5, max=5),
        retry=tenacity.retry_if_exception_type((httpx.TransportError, _IncompleteDownload)),
        reraise=True,
    )
    client = httpx.Client(
        timeout=httpx.Timeout(settings.timeout),
        verify=settings.verify,
        proxy=settings.proxy,
        follow_redirects=True,
        trust_env=False,
    )
    with client:
        for index, url in enumerate(urls):
            destination = directory / output_name(generation_id, url, index, len(urls))
            try:
                size = retrying(_download, client, url, destination)
            except (httpx.HTTPError, _IncompleteDownload) as exc:
                raise I2VTransientError(
                    f"could not copy {url} to {destination}: {exc}", generation_id=generation_id
                ) from None
            log.info("Copied %s (%d bytes) to %s", url, size, destination)
            files.append(str(destination))
    return files
