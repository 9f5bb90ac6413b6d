"""What the simulator was asked: one record per gateway request, plus counters.

Tests assert against this ("exactly one generation was created although the create
answer was lost"), so it is written by the server thread and read by the test thread
under a lock. It never holds the ``Authorization`` header or image bytes: of the
headers only :data:`RECORDED_HEADERS` are kept, and a create's parameters are kept
as sent with the image reduced to :func:`describe_image_reference`. Requests to
``/_sim/`` are the control plane, not the gateway, and are not recorded.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .routes import Endpoint

#: Request headers worth asserting on (how a client identifies itself and what it
#: accepts). Credentials are never among them.
RECORDED_HEADERS = (
    "user-agent",
    "content-type",
    "content-length",
    "content-encoding",
    "accept",
    "accept-encoding",
    "x-source",
    "x-request-id",
    "idempotency-key",
)


@dataclass(frozen=True)
class RequestRecord:
    """One gateway request and what the simulator did with it."""

    seq: int
    at: float  # wall-clock seconds when it arrived
    method: str
    path: str
    endpoint: Endpoint  # create | poll | files | other
    generation_id: str | None
    status: int | None  # None: no answer (connection reset or dropped, or the client gave up)
    fault: str | None
    user_agent: str | None = None
    #: The client's ``host:port``: distinct values count the connections a client used.
    client: str | None = None
    #: A create's parameters as sent (no default applied), image reduced to a description.
    params: dict[str, Any] | None = None
    #: The :data:`RECORDED_HEADERS` the request carried, lower-case names.
    headers: dict[str, str] = field(default_factory=dict)
    #: The client closed the connection while its answer was held (``slow``): it never
    #: got one, although the work (a create: the generation) was done.
    client_gave_up: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Exchange:
    """What happened to one request, filled in as it is handled, recorded before it is answered."""

    recorder: Recorder
    method: str
    path: str
    endpoint: Endpoint
    headers: dict[str, str]
    client: str | None
    at: float
    generation_id: str | None = None
    status: int | None = None
    fault: str | None = None
    answered: bool = False
    params: dict[str, Any] | None = None
    client_gave_up: bool = False
    #: The answer may be gzip-encoded (the knob is on and the client accepts it).
    gzip: bool = False
    committed: bool = False

    def commit(self) -> None:
        """Record this exchange once, *before* its answer (or its reset) leaves.

        A test that reads the record as soon as its client has the answer must find the
        request there; recording after the send would race the client's thread.
        """
        if self.committed:
            return
        self.committed = True
        self.recorder.add(
            RequestRecord(
                seq=self.recorder.next_seq(),
                at=self.at,
                method=self.method,
                path=self.path,
                endpoint=self.endpoint,
                generation_id=self.generation_id,
                status=self.status,
                fault=self.fault,
                user_agent=self.headers.get("user-agent"),
                client=self.client,
                params=self.params,
                headers=self.headers,
                client_gave_up=self.client_gave_up,
            ),
            answered=self.answered,
        )


@dataclass
class _Counts:
    requests: int = 0
    creates: int = 0
    creates_accepted: int = 0
    creates_answered: int = 0
    polls: int = 0
    polls_answered: int = 0
    file_requests: int = 0
    file_downloads: int = 0
    faults: int = 0


class Recorder:
    """The request log (bounded) and counters (unbounded), safe across threads."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self.reset(limit)

    def reset(self, limit: int) -> None:
        """Forget every record and count; keep at most ``limit`` records from now on."""
        with self._lock:
            self._records: collections.deque[RequestRecord] = collections.deque(maxlen=limit)
            self._counts = _Counts()
            self._faults_by_kind: Counter[str] = Counter()
            self._statuses: Counter[str] = Counter()
            self._seq = 0

    def add(self, record: RequestRecord, *, answered: bool) -> None:
        """Log ``record``; ``answered`` means a complete, well-formed success reached the client."""
        with self._lock:
            self._records.append(record)
            counts = self._counts
            counts.requests += 1
            if record.endpoint == Endpoint.CREATE:
                counts.creates += 1
                counts.creates_answered += answered
            elif record.endpoint == Endpoint.POLL:
                counts.polls += 1
                counts.polls_answered += answered
            elif record.endpoint == Endpoint.FILES:
                counts.file_requests += 1
                counts.file_downloads += answered and record.method == "GET"
            if record.fault is not None:
                counts.faults += 1
                self._faults_by_kind[str(record.fault)] += 1
            self._statuses["none" if record.status is None else str(record.status)] += 1

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def accepted(self) -> None:
        """A generation was created (whether or not its answer reached the client)."""
        with self._lock:
            self._counts.creates_accepted += 1

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def stats(self) -> dict[str, Any]:
        """The counters served by ``GET /_sim/stats``."""
        with self._lock:
            data: dict[str, Any] = dataclasses.asdict(self._counts)
            data["faults_by_kind"] = dict(self._faults_by_kind)
            data["statuses"] = dict(self._statuses)
            return data
