"""Which endpoint a request is for: the gateway's two, the simulator's files, or none.

Routing is one pure function of the method and the path, so the record, the faults
(whose scopes name endpoints) and the handlers all agree on what a request was. The
contract's paths come from :mod:`airflow_provider_i2v.protocol`; only the output
files' path is the simulator's own (the real gateway serves them from a CDN).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from airflow_provider_i2v.protocol import CREATE_PATH, generation_id_from_poll_path

#: Where the simulator serves its output files: ``/files/<generation id>.mp4``.
FILES_PREFIX = "/files/"
FILE_SUFFIX = ".mp4"


class Endpoint(enum.StrEnum):
    """What a gateway request is: the record's ``endpoint`` and a fault's scope."""

    CREATE = "create"
    POLL = "poll"
    FILES = "files"
    #: Anything else on the gateway's side (answered 404 or 405; never faulted).
    OTHER = "other"


#: The endpoints a fault can hit (``other`` is refused before any fault is considered).
GATEWAY_ENDPOINTS: tuple[Endpoint, ...] = (Endpoint.CREATE, Endpoint.POLL, Endpoint.FILES)


@dataclass(frozen=True)
class Route:
    """Where a request goes. ``known_path`` tells a wrong method (405) from a wrong path (404)."""

    endpoint: Endpoint
    generation_id: str | None = None
    known_path: bool = False


def file_path(generation_id: str) -> str:
    """Path of a generation's output file on the simulator."""
    return f"{FILES_PREFIX}{generation_id}{FILE_SUFFIX}"


def route(method: str, path: str) -> Route:
    """The endpoint of ``method path`` and the generation id the path names, if any."""
    generation_id = generation_id_from_poll_path(path)
    if path == CREATE_PATH:
        return Route(Endpoint.CREATE if method == "POST" else Endpoint.OTHER, known_path=True)
    if generation_id is not None:
        endpoint = Endpoint.POLL if method == "GET" else Endpoint.OTHER
        return Route(endpoint, generation_id, known_path=True)
    if path.startswith(FILES_PREFIX) and path.endswith(FILE_SUFFIX) and method in ("GET", "HEAD"):
        return Route(Endpoint.FILES, path[len(FILES_PREFIX) : -len(FILE_SUFFIX)])
    return Route(Endpoint.OTHER)  # files are a CDN's: any other method there is a plain 404
