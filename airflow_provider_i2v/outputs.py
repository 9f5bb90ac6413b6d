"""Copy generated files to durable storage (the operator's ``output_dir``), checksummed.

The gateway's output URLs are temporary signed links; a pipeline that needs the video
tomorrow copies it while the link is valid. Each file is streamed (never held whole in
memory) through Airflow's ``ObjectStoragePath`` (local disk, ``file://``, ``s3://`` and
every other fsspec protocol), hashed (SHA-256) and counted while it streams, written
under a temporary name and renamed only once complete (no partial file is ever visible
under its final name), and checked against the size the server announced. A CDN's
429/5xx or a dropped transfer is retried in-process.

Each copy is described by a :class:`StoredFile` (URI, size, SHA-256, source URL). Given
the records of an earlier copy of the same generation, a file still there with the
same size and checksum is not downloaded again.

No API key is sent with a download: output links are public signed URLs, often on
another host, and the key must never leave for a third party.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from airflow_provider_i2v.exceptions import I2VNonRetryableError, I2VTransientError
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.protocol import is_file_safe_id, parse_retry_after

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
DOWNLOAD_ATTEMPTS = 4
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


@dataclass(frozen=True)
class StoredFile:
    """One copied output: where it is, how big, its SHA-256, and where it came from."""

    uri: str
    size: int
    sha256: str
    source_url: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StoredFile | None:
        try:
            return cls(str(raw["uri"]), int(raw["size"]), str(raw["sha256"]), str(raw["source_url"]))
        except (KeyError, TypeError, ValueError):
            return None


class _Retry(Exception):
    """A download failure worth another attempt (dropped, short, throttled, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_clients: dict[tuple[Any, ...], httpx.Client] = {}
_clients_lock = threading.Lock()


def download_client(settings: ConnectionSettings) -> httpx.Client:
    """The process's download client for these options (a batch copies thousands of files:
    building a client costs more than a small download). No key, no base URL, redirects
    followed, the environment's proxy variables ignored."""
    with _clients_lock:
        client = _clients.get(settings.client_key)
        if client is None or client.is_closed:
            client = _clients[settings.client_key] = httpx.Client(
                timeout=httpx.Timeout(settings.timeout),
                verify=settings.verify,
                proxy=settings.proxy,
                follow_redirects=True,
                trust_env=False,
            )
        return client


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
    """``<generation_id>.mp4``, or ``<generation_id>_<n>.<ext>`` when there are several files.

    The id comes from the gateway: one that could leave the folder (``/``, ``..``) or is
    not a plain name is refused, never rewritten (two ids must never share a file).
    """
    if not is_file_safe_id(generation_id):
        raise I2VNonRetryableError(
            f"the gateway's generation id {generation_id!r} cannot name a file safely; the outputs were "
            f"not copied (they are at {url})",
            generation_id=generation_id[:128],
        )
    suffix = os.path.splitext(urlsplit(url).path)[1].lower()
    if not _SUFFIX.fullmatch(suffix):
        suffix = ".mp4"
    return f"{generation_id}{suffix}" if count == 1 else f"{generation_id}_{index + 1}{suffix}"


def _announced_length(response: httpx.Response) -> int | None:
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise _Retry(f"the server announced a malformed Content-Length {raw[:40]!r}")
    return int(raw)


def _download(
    client: httpx.Client, url: str, destination: Any, remember: Callable[[StoredFile], None]
) -> StoredFile:
    temporary = destination.parent / f".{destination.name}.part-{uuid.uuid4().hex[:8]}"
    digest = hashlib.sha256()
    try:
        with client.stream("GET", url) as response:
            if response.status_code == 429 or response.status_code >= 500:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise _Retry(f"HTTP {response.status_code}", retry_after)
            response.raise_for_status()
            announced = _announced_length(response)
            written = 0
            with temporary.open("wb") as sink:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    sink.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
        # Content-Length counts bytes on the wire: compare it with what arrived, not with the
        # decoded size (a CDN may compress the answer).
        received = response.num_bytes_downloaded
        if announced is not None and announced != received:
            raise _Retry(f"received {received} bytes of the {announced} announced")
        stored = StoredFile(str(destination), written, digest.hexdigest(), url)
        remember(stored)  # before the rename: a file under its final name always has a record
        temporary.rename(destination)
        return stored
    except BaseException:
        try:
            if temporary.exists():
                temporary.unlink()
        except OSError:  # pragma: no cover - best effort
            log.warning("Could not remove partial file %s", temporary)
        raise


def _still_complete(destination: Any, record: StoredFile) -> bool:
    """Whether ``destination`` still holds exactly what ``record`` describes."""
    try:
        if not destination.exists() or destination.stat().st_size != record.size:
            return False
        digest = hashlib.sha256()
        with destination.open("rb") as source:
            while chunk := source.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError:
        return False
    return digest.hexdigest() == record.sha256


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, _Retry) and exc.retry_after is not None:
        return min(exc.retry_after, 60.0)
    return float(tenacity.wait_exponential_jitter(multiplier=0.5, max=10)(state))


def copy_outputs(
    urls: list[str],
    output_dir: Any,
    generation_id: str,
    settings: ConnectionSettings,
    *,
    known: Iterable[StoredFile] = (),
    remember: Callable[[list[StoredFile]], None] = lambda records: None,
) -> list[StoredFile]:
    """Copy every URL into ``output_dir``; returns the copies in the same order.

    The connection's proxy, TLS verification and timeout apply (never its key). A file
    that ``known`` (an earlier copy's records) says is complete, and still is, is kept.
    ``remember`` is given the records so far just before each new file gets its final
    name, so an interruption at any point leaves either no file or a file with a record.
    """
    directory = as_storage_path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    earlier = {(record.uri, record.source_url): record for record in known}
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(DOWNLOAD_ATTEMPTS),
        wait=_wait,
        retry=tenacity.retry_if_exception_type((httpx.TransportError, _Retry)),
        reraise=True,
    )
    client = download_client(settings)
    files: list[StoredFile] = []
    # One client per process and connection options, shared by every copy.
    for index, url in enumerate(urls):
        destination = directory / output_name(generation_id, url, index, len(urls))
        record = earlier.get((str(destination), url))
        if record is not None and _still_complete(destination, record):
            log.info(
                "%s is already complete (%d bytes, sha256 %s); not downloaded again",
                record.uri,
                record.size,
                record.sha256,
            )
            files.append(record)
            continue
        try:
            stored = retrying(_download, client, url, destination, lambda new: remember([*files, new]))
        except (httpx.HTTPError, _Retry) as exc:
            raise I2VTransientError(
                f"could not copy {url} to {destination}: {exc}", generation_id=generation_id
            ) from None
        log.info("Copied %s (%d bytes, sha256 %s) to %s", url, stored.size, stored.sha256, stored.uri)
        files.append(stored)
    return files


def keep(
    urls: list[str],
    output_dir: Any,
    generation_id: str,
    settings: ConnectionSettings,
    known: Iterable[Mapping[str, Any]],
    remember: Callable[[list[dict[str, Any]]], None],
) -> list[dict[str, Any]]:
    """:func:`copy_outputs` over JSON records: what a ledger entry holds and the result shows."""
    earlier = [record for raw in known if (record := StoredFile.from_json(raw)) is not None]
    stored = copy_outputs(
        urls,
        output_dir,
        generation_id,
        settings,
        known=earlier,
        remember=lambda records: remember([record.to_json() for record in records]),
    )
    return [record.to_json() for record in stored]
