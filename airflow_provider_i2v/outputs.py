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

An output URL comes from the gateway's answer, so it is not trusted:

* **no private addresses**: a URL (or a redirect) whose host is or resolves to a
  loopback, private, link-local or otherwise non-global address is refused before
  anything is sent to it, unless the connection's ``allow_private_outputs`` extra is
  true (a simulator on this machine, an in-house gateway). Behind a proxy a name the
  worker cannot resolve is left to the proxy; an address literal is always checked.
  The address is checked when the name is resolved, just before the request (a DNS
  answer that changes between the check and the connection is not caught);
* **bounded**: at most :data:`~airflow_provider_i2v.hooks.clients.MAX_REDIRECTS`
  redirects, :data:`MAX_OUTPUT_BYTES` bytes per file (announced or streamed), and
  :data:`DOWNLOAD_SECONDS` per file, attempts included;
* **one client policy**: the hooks' shared client for third-party URLs
  (:func:`~airflow_provider_i2v.hooks.clients.fetch_client`: the connection's timeouts,
  TLS and proxy rules) and their back-off (:func:`~airflow_provider_i2v.hooks.transport.retry_wait`:
  the connection's ``backoff_initial``/``backoff_max``, ``Retry-After`` capped at 300 s),
  within the connection's ``max_retries``.

Every failure is a provider error: :class:`~airflow_provider_i2v.exceptions.I2VTransientError`
when a retry may help (network, 429/5xx, storage errors), and
:class:`~airflow_provider_i2v.exceptions.I2VNonRetryableError` when it cannot (a refused
address, a file over the cap, 4xx, a redirect loop, an output folder that cannot be written).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from airflow_provider_i2v.exceptions import I2VError, I2VNonRetryableError, I2VTransientError
from airflow_provider_i2v.hooks.clients import environment_proxies, open_url
from airflow_provider_i2v.hooks.interpret import TransientFailure
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.hooks.transport import retry_wait
from airflow_provider_i2v.protocol import is_file_safe_id, parse_retry_after

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
#: Largest output file copied. The model renders 6 s of 720P: at the ~10 Mbit/s such a
#: video is usually encoded with that is under 8 MB, and even at 100 Mbit/s (near
#: lossless) 75 MB; 256 MB leaves a wide margin and still bounds a hostile answer.
MAX_OUTPUT_BYTES = 256_000_000
#: Longest one file's copy may take, every attempt and wait included (256 MB at 0.5 MB/s).
DOWNLOAD_SECONDS = 600.0
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")

#: ``(host, port) -> addresses``; tests replace it with a fake resolver.
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolves ``host`` to (what a connection would use)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


resolve: Resolver = system_resolver


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


def _refusal(message: str, generation_id: str | None = None) -> I2VNonRetryableError:
    return I2VNonRetryableError(message, generation_id=generation_id)


def check_output_host(url: httpx.URL, settings: ConnectionSettings) -> None:
    """Refuse ``url`` when its host is (or resolves to) a non-global address, unless the
    connection allows private outputs. Raises :class:`I2VNonRetryableError`."""
    if settings.allow_private_outputs:
        return
    host = url.host
    try:
        ipaddress.ip_address(host)
        found = [host]
    except ValueError:
        try:
            found = resolve(host, url.port or (443 if url.scheme == "https" else 80))
        except OSError as exc:
            if settings.proxy or environment_proxies():
                return  # the proxy resolves it; the worker may have no DNS of its own
            raise TransientFailure(f"cannot resolve {host!r} ({exc})", nothing_created=False) from None
    for text in found:
        address = ipaddress.ip_address(text.split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if not address.is_global or (mapped is not None and not mapped.is_global):
            raise _refusal(
                f"output URL host {host!r} is {text}, a loopback, private or link-local address; "
                "it was not fetched. A gateway on this machine or network (the simulator) needs the "
                "connection extra allow_private_outputs=true."
            )


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
        raise TransientFailure(
            f"the server announced a malformed Content-Length {raw[:40]!r}", nothing_created=False
        )
    return int(raw)


def _too_big(url: str, size: int, *, at_least: bool = False) -> I2VNonRetryableError:
    return _refusal(
        f"{url} is {'over ' if at_least else ''}{size:,} bytes; an output file larger than "
        f"{MAX_OUTPUT_BYTES:,} bytes is not copied"
    )


def _download(
    url: str,
    destination: Any,
    remember: Callable[[StoredFile], None],
    settings: ConnectionSettings,
    deadline: float,
) -> StoredFile:
    temporary = destination.parent / f".{destination.name}.part-{uuid.uuid4().hex[:8]}"
    digest = hashlib.sha256()
    try:
        with open_url(settings, url, check_hop=lambda hop: check_output_host(hop, settings)) as response:
            status = response.status_code
            if status == 429 or status >= 500:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                raise TransientFailure(f"HTTP {status}", nothing_created=False, retry_after=retry_after)
            if status >= 400 or status < 200 or status in (204, 206):
                raise _refusal(f"{url} answered HTTP {status}; the output file was not copied")
            announced = _announced_length(response)
            if announced is not None and announced > MAX_OUTPUT_BYTES:
                raise _too_big(url, announced)
            written = 0
            with temporary.open("wb") as sink:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    written += len(chunk)
                    if written > MAX_OUTPUT_BYTES:
                        raise _too_big(url, MAX_OUTPUT_BYTES, at_least=True)
                    if time.monotonic() > deadline:
                        raise TransientFailure(
                            f"the copy took longer than {DOWNLOAD_SECONDS:g} s", nothing_created=False
                        )
                    sink.write(chunk)
                    digest.update(chunk)
            # Content-Length counts bytes on the wire: compare it with what arrived, not with
            # the decoded size (a CDN may compress the answer).
            received = response.num_bytes_downloaded
        if announced is not None and announced != received:
            raise TransientFailure(
                f"received {received} bytes of the {announced} announced", nothing_created=False
            )
        stored = StoredFile(str(destination), written, digest.hexdigest(), url)
        remember(stored)  # before the rename: a file under its final name always has a record
        temporary.rename(destination)
        return stored
    except (httpx.UnsupportedProtocol, httpx.TooManyRedirects) as exc:
        raise _refusal(f"{url}: {exc}; the output file was not copied") from None
    except httpx.HTTPError as exc:
        raise TransientFailure(
            f"{type(exc).__name__}: {exc or type(exc).__name__}", nothing_created=False
        ) from None
    finally:
        try:
            if temporary.exists():
                temporary.unlink()
        except OSError:  # pragma: no cover - best effort
            log.warning("Could not remove partial file %s", temporary)


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
    try:
        return _copy_all(urls, output_dir, generation_id, settings, known, remember)
    except I2VError:
        raise
    except PermissionError as exc:
        raise I2VNonRetryableError(
            f"the outputs could not be written to {output_dir}: permission denied ({exc})",
            generation_id=generation_id,
        ) from None
    except Exception as exc:  # storage (OSError, an fsspec backend's own errors): a retry may help
        raise I2VTransientError(
            f"the outputs could not be copied to {output_dir} ({type(exc).__name__}: {exc})",
            generation_id=generation_id,
        ) from None


def _copy_all(
    urls: list[str],
    output_dir: Any,
    generation_id: str,
    settings: ConnectionSettings,
    known: Iterable[StoredFile],
    remember: Callable[[list[StoredFile]], None],
) -> list[StoredFile]:
    names = [output_name(generation_id, url, index, len(urls)) for index, url in enumerate(urls)]
    directory = as_storage_path(output_dir)
    directory.mkdir(parents=True, exist_ok=True)
    # Keyed by where the copy is, not by the (signed, short-lived) link it came from: a
    # retry gets new links to the same files.
    earlier = {record.uri: record for record in known}
    files: list[StoredFile] = []
    for url, name in zip(urls, names, strict=True):
        destination = directory / name
        record = earlier.get(str(destination))
        if record is not None and _still_complete(destination, record):
            log.info(
                "%s is already complete (%d bytes, sha256 %s); not downloaded again",
                record.uri,
                record.size,
                record.sha256,
            )
            files.append(record)
            continue
        deadline = time.monotonic() + DOWNLOAD_SECONDS
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(settings.max_retries + 1)
            | tenacity.stop_after_delay(DOWNLOAD_SECONDS),
            wait=retry_wait(settings),
            retry=tenacity.retry_if_exception_type(TransientFailure),
            reraise=True,
            sleep=time.sleep,
            before_sleep=lambda state: log.warning(
                "Copy of %s failed (%s); retrying in %.1f s",
                state.args[0],
                state.outcome.exception() if state.outcome else "?",
                state.next_action.sleep if state.next_action else 0.0,
            ),
        )
        try:
            stored = retrying(
                _download, url, destination, lambda new: remember([*files, new]), settings, deadline
            )
        except TransientFailure as exc:
            raise I2VTransientError(
                f"could not copy {url} to {destination}: {exc}", generation_id=generation_id
            ) from None
        except I2VNonRetryableError as exc:
            raise I2VNonRetryableError(exc.message, generation_id=generation_id) from None
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
