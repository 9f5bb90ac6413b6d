"""The simulated gateway: an ASGI application with its state, knobs and request record.

One :class:`Simulator` is one gateway. It serves the two contract endpoints (paths,
statuses, field names and bodies all come from :mod:`airflow_provider_i2v.protocol`),
its own output files under ``/files/``, and a control plane under ``/_sim/`` (no
auth, never faulted, never recorded). Tests hold the object in-process or drive it
over HTTP; both views are the same state.

Order of events for a gateway request, which is what makes faults predictable:

1. a fault is picked (at most one: the first configured fault that fires);
2. the request body is read whole (so a client has finished sending when it is hit);
3. ``http_NNN``, ``reset`` and ``drop`` faults answer (or don't) right here, nothing
   else happens: in particular no generation is created;
4. auth (401), request checks (400), lookup (404) as the gateway would;
5. the work is done (a create really creates);
6. the answer is sent, after ``slow_seconds`` for ``slow``, or replaced by the body
   fault (``malformed_json``, ``truncated_body``, ``huge_body``, ``missing_id``,
   ``lost_create_answer``). Body faults only replace a *successful* answer; a refused
   request gets its refusal and is recorded without the fault.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.protocol import (
    CREATE_PATH,
    GenerationRequest,
    GenerationStatus,
    bearer_token,
    describe_image_reference,
    generation_id_from_poll_path,
    render_error,
)

from . import asgi, media
from .asgi import Receive, Scope, Send
from .config import Fault, SimConfig, http_fault_status
from .control import CONTROL_PREFIX, serve_control
from .faults import FaultPicker, retry_after_header
from .generations import Generation, GenerationStore, render_created, render_polled
from .record import Recorder, RequestRecord
from .validation import MAX_CREATE_BODY_BYTES, InvalidCreateRequest, read_create_request

#: Where the simulator serves its output files: ``/files/<generation id>.mp4``.
FILES_PREFIX = "/files/"
FILE_SUFFIX = ".mp4"
#: Create bodies larger than this are parsed off the event loop.
_THREAD_PARSE_BYTES = 1024 * 1024
_BODY_FAULTS = frozenset(
    {"malformed_json", "truncated_body", "huge_body", "missing_id", "lost_create_answer"}
)
_UNAUTHORISED = "API key is missing or invalid"


def file_path(generation_id: str) -> str:
    """Path of a generation's output file on the simulator."""
    return f"{FILES_PREFIX}{generation_id}{FILE_SUFFIX}"


class _Abandoned(Exception):
    """A request given up on because the server is stopping (its connection is closed)."""


@dataclass
class _Exchange:
    """What happened to one request, filled in as it is handled, recorded before it is answered."""

    method: str
    path: str
    endpoint: str
    user_agent: str | None
    client: str | None
    at: float
    generation_id: str | None = None
    status: int | None = None
    fault: str | None = None
    answered: bool = False
    params: dict[str, Any] | None = None
    committed: bool = False


class Simulator:
    """The simulated Vtrix gateway (an ASGI callable) and everything it remembers."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self._config = config if config is not None else SimConfig()
        self._offset = 0.0
        self._seed = 0
        self._rng = random.Random()
        self._picker = FaultPicker()
        self._store = GenerationStore()
        self._recorder = Recorder(self._config.record_limit)
        self.reset()

    # ---------------------------------------------------------------- in-process API

    @property
    def config(self) -> SimConfig:
        """The live config; attribute changes apply to the next request (unvalidated)."""
        return self._config

    def configure(self, **changes: Any) -> SimConfig:
        """Validate and apply ``changes`` (config field names); a new ``seed`` reseeds."""
        config = self._config.updated(changes)
        self._config = config
        if "seed" in changes:
            self._reseed()
        return config

    def reset(self, config: SimConfig | None = None) -> None:
        """Forget every generation and record, rewind faults, reseed, undo :meth:`advance`.

        With ``config``, start over under that config (a fresh simulator, same address).
        """
        if config is not None:
            config.validate()
            self._config = config
        self._store.clear()
        self._recorder = Recorder(self._config.record_limit)
        self._picker.reset()
        self._offset = 0.0
        self._reseed()

    def advance(self, seconds: float) -> float:
        """Move the simulator's clock forward (generations age without a sleep)."""
        if seconds < 0:
            raise ValueError("the simulator's clock only moves forward")
        self._offset += seconds
        return self._offset

    def clock(self) -> float:
        """The simulator's monotonic clock: ``time.monotonic()`` plus every :meth:`advance`."""
        return time.monotonic() + self._offset

    @property
    def seed(self) -> int:
        """The seed in use (the configured one, or the one drawn when none was)."""
        return self._seed

    @property
    def requests(self) -> list[RequestRecord]:
        """Every gateway request received (oldest first, at most ``record_limit``)."""
        return self._recorder.records

    @property
    def creations(self) -> int:
        """How many generations were created (including those whose answer was lost)."""
        return len(self._store)

    @property
    def generations(self) -> list[Generation]:
        return self._store.all()

    @property
    def generation_ids(self) -> list[str]:
        return [generation.generation_id for generation in self._store.all()]

    def generation(self, generation_id: str) -> Generation | None:
        return self._store.get(generation_id)

    def stats(self) -> dict[str, Any]:
        """Counters: requests, creates (received/accepted/answered), polls, files, faults."""
        data = self._recorder.stats()
        data["generations"] = len(self._store)
        data["seed"] = self._seed
        return data

    def _reseed(self) -> None:
        seed = self._config.seed
        self._seed = seed if seed is not None else int.from_bytes(os.urandom(6), "big")
        self._rng = random.Random(self._seed)

    # ---------------------------------------------------------------- ASGI entry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await serve_control(self, scope, receive, send)
            return
        method: str = scope["method"]
        generation_id = generation_id_from_poll_path(path)
        if path == CREATE_PATH and method == "POST":
            endpoint = "create"
        elif generation_id is not None and method == "GET":
            endpoint = "poll"
        elif path.startswith(FILES_PREFIX) and path.endswith(FILE_SUFFIX) and method in ("GET", "HEAD"):
            endpoint = "files"
            generation_id = path[len(FILES_PREFIX) : -len(FILE_SUFFIX)]
        else:
            endpoint = "other"
        exchange = _Exchange(
            method=method,
            path=path,
            endpoint=endpoint,
            user_agent=asgi.header(scope, b"user-agent"),
            client=_client(scope),
            at=time.time(),
            generation_id=generation_id,
        )
        try:
            if endpoint == "create":
                await self._create(scope, receive, send, exchange)
            elif endpoint == "poll":
                await self._poll(scope, receive, send, exchange)
            elif endpoint == "files":
                await self._file(scope, receive, send, exchange)
            else:
                await asgi.read_body(receive, MAX_CREATE_BODY_BYTES)
                known = path == CREATE_PATH or generation_id is not None
                status = 405 if known else 404
                await self._refuse(send, receive, exchange, status, f"{method} {path}: no such endpoint")
        except _Abandoned:
            pass
        finally:
            self._commit(exchange)

    def _commit(self, exchange: _Exchange) -> None:
        """Record ``exchange`` once, *before* its answer (or its reset) leaves.

        A test that reads the record as soon as its client has the answer must find the
        request there; recording after the send would race the client's thread.
        """
        if exchange.committed:
            return
        exchange.committed = True
        self._recorder.add(
            RequestRecord(
                seq=self._recorder.next_seq(),
                at=exchange.at,
                method=exchange.method,
                path=exchange.path,
                endpoint=exchange.endpoint,
                generation_id=exchange.generation_id,
                status=exchange.status,
                fault=exchange.fault,
                user_agent=exchange.user_agent,
                client=exchange.client,
                params=exchange.params,
            ),
            answered=exchange.answered,
        )

    # ---------------------------------------------------------------- the gateway

    async def _create(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange) -> None:
        config = self._config
        fault = self._pick(config, "create", exchange)
        body, too_large = await asgi.read_body(receive, MAX_CREATE_BODY_BYTES)
        if fault is not None and await self._fault_instead_of_answer(fault, config, send, receive, exchange):
            return
        if not self._authorised(scope, config):
            await self._refuse(send, receive, exchange, 401, _UNAUTHORISED)
            return
        if too_large:
            await self._refuse(
                send, receive, exchange, 400, f"the request body is over {MAX_CREATE_BODY_BYTES} bytes"
            )
            return
        try:
            if len(body) > _THREAD_PARSE_BYTES:
                request = await asyncio.to_thread(read_create_request, body)
            else:
                request = read_create_request(body)
        except InvalidCreateRequest as exc:
            await self._refuse(send, receive, exchange, 400, str(exc))
            return
        exchange.params = _summary(request)
        if fault is not None and fault.kind == "missing_id":
            # The vendor's CLI reads a 200 without an id as a failed creation: nothing is created.
            payload = render_created(_phantom(request.model), config)
            del payload["id"]
            await self._answer(send, receive, exchange, config, fault, payload)
            return
        generation = self._store.create(
            model=request.model, config=config, rng=self._rng, now=self.clock(), wall=time.time()
        )
        self._recorder.accepted()
        exchange.generation_id = generation.generation_id
        await self._answer(send, receive, exchange, config, fault, render_created(generation, config))

    async def _poll(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange) -> None:
        config = self._config
        fault = self._pick(config, "poll", exchange)
        await asgi.read_body(receive, MAX_CREATE_BODY_BYTES)
        if fault is not None and await self._fault_instead_of_answer(fault, config, send, receive, exchange):
            return
        if not self._authorised(scope, config):
            await self._refuse(send, receive, exchange, 401, _UNAUTHORISED)
            return
        generation = self._store.get(exchange.generation_id or "")
        if generation is None:
            await self._refuse(
                send, receive, exchange, 404, f"generation {exchange.generation_id!r} not found"
            )
            return
        generation.polls += 1
        url = self._base_url(scope, config) + file_path(generation.generation_id)
        payload = render_polled(generation, config, self.clock(), url)
        if fault is not None and fault.kind == "missing_id":
            del payload["id"]
        await self._answer(send, receive, exchange, config, fault, payload)

    async def _file(self, scope: Scope, receive: Receive, send: Send, exchange: _Exchange) -> None:
        config = self._config
        fault = self._pick(config, "files", exchange)
        await asgi.read_body(receive, MAX_CREATE_BODY_BYTES)
        if fault is not None and await self._fault_instead_of_answer(fault, config, send, receive, exchange):
            return
        generation = self._store.get(exchange.generation_id or "")
        if generation is None or generation.phase(self.clock()) is not GenerationStatus.COMPLETED:
            await self._refuse(send, receive, exchange, 404, f"no file {exchange.path!r}")
            return
        data = media.video_bytes(generation.generation_id, config.file_size)
        head = exchange.method == "HEAD"
        if fault is not None and fault.kind == "slow":
            await self._delay(config.slow_seconds, send, receive, exchange)
        exchange.status = 200
        if fault is not None and fault.kind == "truncated_body":
            if not head:
                self._commit(exchange)
                await asgi.send_truncated(send, receive, 200, data, content_type=media.CONTENT_TYPE)
                return
            exchange.fault = None  # a HEAD has no body to truncate
        exchange.answered = True
        self._commit(exchange)
        await asgi.respond_stream(send, 200, data, content_type=media.CONTENT_TYPE, head_only=head)

    # ---------------------------------------------------------------- helpers

    async def _delay(self, seconds: float, send: Send, receive: Receive, exchange: _Exchange) -> None:
        """The ``slow`` fault's wait. Cut short by a server shutdown, the connection is
        closed without an answer (and :class:`_Abandoned` ends the handler) instead of
        uvicorn logging a cancelled application and answering 500."""
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            exchange.status = None
            self._commit(exchange)
            await asgi.drop_connection(send, receive, reset=False)
            raise _Abandoned from None

    def _pick(self, config: SimConfig, endpoint: str, exchange: _Exchange) -> Fault | None:
        fault = self._picker.pick(config.faults, endpoint, self._rng)
        exchange.fault = fault.kind if fault is not None else None
        return fault

    def _authorised(self, scope: Scope, config: SimConfig) -> bool:
        key = bearer_token(asgi.header(scope, b"authorization"))
        if key is None:
            return False
        return not config.api_keys or key in config.api_keys

    @staticmethod
    def _base_url(scope: Scope, config: SimConfig) -> str:
        """Where clients reach the simulator: ``public_url``, else what this client used."""
        if config.public_url:
            return config.public_url.rstrip("/")
        host = asgi.header(scope, b"host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scope.get('scheme', 'http')}://{host}"

    async def _refuse(
        self, send: Send, receive: Receive, exchange: _Exchange, status: int, message: str
    ) -> None:
        """A genuine refusal (not a fault): the documented ``{"message"}`` body."""
        if exchange.fault in _BODY_FAULTS:
            exchange.fault = None  # body faults only replace successful answers
        if exchange.fault == "slow":
            await self._delay(self._config.slow_seconds, send, receive, exchange)
        exchange.status = status
        self._commit(exchange)
        await asgi.respond_json(send, status, render_error(message))

    async def _fault_instead_of_answer(
        self, fault: Fault, config: SimConfig, send: Send, receive: Receive, exchange: _Exchange
    ) -> bool:
        """Apply an ``http_NNN``, ``reset`` or ``drop`` fault; ``False`` for any other kind."""
        status = http_fault_status(fault.kind)
        if status is not None:
            body, content_type = self._picker.error_body(config, status)
            retry_after = retry_after_header(config, status)
            headers = [("retry-after", retry_after)] if retry_after is not None else []
            exchange.status = status
            self._commit(exchange)
            await asgi.respond(send, status, body, content_type=content_type, headers=headers)
            return True
        if fault.kind in ("reset", "drop"):
            self._commit(exchange)
            await asgi.drop_connection(send, receive, reset=fault.kind == "reset")
            return True
        return False

    async def _answer(
        self,
        send: Send,
        receive: Receive,
        exchange: _Exchange,
        config: SimConfig,
        fault: Fault | None,
        payload: dict[str, Any],
    ) -> None:
        """Send a successful answer, or what its body fault turns it into."""
        kind = fault.kind if fault is not None else None
        if kind == "slow":
            await self._delay(config.slow_seconds, send, receive, exchange)
        if kind == "lost_create_answer":
            self._commit(exchange)
            await asgi.drop_connection(send, receive, reset=True)
            return
        exchange.status = 200
        exchange.answered = kind is None or kind == "slow"
        self._commit(exchange)
        if kind == "malformed_json":
            await asgi.respond(send, 200, self._picker.malformed_body(config, exchange.generation_id))
        elif kind == "truncated_body":
            await asgi.send_truncated(send, receive, 200, asgi.dumps(payload), content_type=asgi.JSON_TYPE)
        elif kind == "huge_body":
            prefix = asgi.dumps(payload)[:-1] + b',"padding":"'
            total = int(config.huge_body_mib * 1024 * 1024)
            await asgi.respond_huge(
                send, total, chunked=config.huge_body_chunked, prefix=prefix, suffix=b'"}'
            )
        else:
            await asgi.respond_json(send, 200, payload)


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None


def _summary(request: GenerationRequest) -> dict[str, Any]:
    """A create's parameters for the record: the image reduced to a short description."""
    data = dataclasses.asdict(request)
    data["first_frame_image"] = describe_image_reference(request.first_frame_image)
    return data


def _phantom(model: str) -> Generation:
    """A generation that is answered about but never stored (the ``missing_id`` fault)."""
    return Generation(
        generation_id="", model=model, created_at=time.time(), started=0.0, duration=0.0, failure=None
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to set up; answer the lifespan protocol so any ASGI server is happy."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
