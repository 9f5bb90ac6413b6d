"""The gateway's handlers: create, poll, files, and the refusal of anything else.

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

What each fault does at its step is :mod:`.fault_answers` (a :class:`Reply` per request);
this module is the gateway.
"""

from __future__ import annotations

import asyncio
import time

from airflow_provider_i2v.protocol import GenerationRequest, GenerationStatus, bearer_token

from . import asgi, media
from .asgi import Receive, Scope, Send
from .bodies import render_created, render_creation_failed, render_polled
from .config import SimConfig
from .fault_answers import Reply
from .faults import FaultKind
from .media import MediaSpec
from .record import Exchange
from .routes import Endpoint, Route, file_path
from .state import State
from .validation import MAX_REQUEST_BODY_BYTES, InvalidCreateRequest, read_create_request

#: Create bodies larger than this are parsed off the event loop.
_THREAD_PARSE_BYTES = 1024 * 1024
_UNAUTHORISED = "API key is missing or invalid"


class Gateway:
    """Answers gateway requests from a :class:`State`."""

    def __init__(self, state: State) -> None:
        self._state = state

    async def serve(
        self, route: Route, scope: Scope, receive: Receive, send: Send, exchange: Exchange
    ) -> None:
        """Answer one gateway request (``exchange`` was made from ``route`` and is recorded)."""
        state, config = self._state, self._state.config
        fault = None
        if route.endpoint is not Endpoint.OTHER:
            fault = state.picker.pick(config.faults, route.endpoint, state.rng)
            exchange.fault = fault.kind if fault is not None else None
        body, too_large = await asgi.read_body(receive, MAX_REQUEST_BODY_BYTES)
        reply = Reply(fault, config, state.bodies, send, receive, exchange)
        if await reply.instead():
            return
        if route.endpoint is Endpoint.CREATE:
            await self._create(scope, reply, body, too_large)
        elif route.endpoint is Endpoint.POLL:
            await self._poll(scope, reply)
        elif route.endpoint is Endpoint.FILES:
            await self._file(reply)
        else:
            status = 405 if route.known_path else 404
            await reply.refuse(status, f"{exchange.method} {exchange.path}: no such endpoint")

    async def _create(self, scope: Scope, reply: Reply, body: bytes, too_large: bool) -> None:
        state, config, exchange = self._state, reply.config, reply.exchange
        if not self._authorised(scope, config):
            await reply.refuse(401, _UNAUTHORISED)
            return
        if too_large:
            await reply.refuse(400, f"the request body is over {MAX_REQUEST_BODY_BYTES} bytes")
            return
        try:
            if len(body) > _THREAD_PARSE_BYTES:
                parsed = await asyncio.to_thread(read_create_request, body)
            else:
                parsed = read_create_request(body)
        except InvalidCreateRequest as exc:
            await reply.refuse(400, str(exc))
            return
        request = parsed.request
        exchange.params = parsed.sent
        if reply.fault is not None and reply.fault.kind is FaultKind.MISSING_ID:
            # A 200 without an id is a failed creation (the vendor's CLI reads it so): nothing is created.
            await reply.answer(render_creation_failed(request.model, config))
            return
        spec = await self._media_spec(config, request)
        generation = state.store.create(
            model=request.model, config=config, rng=state.rng, now=state.clock(), wall=time.time(), media=spec
        )
        state.recorder.accepted()
        exchange.generation_id = generation.generation_id
        await reply.answer(render_created(generation, config))

    async def _poll(self, scope: Scope, reply: Reply) -> None:
        state, config, exchange = self._state, reply.config, reply.exchange
        if not self._authorised(scope, config):
            await reply.refuse(401, _UNAUTHORISED)
            return
        generation = state.store.get(exchange.generation_id or "")
        if generation is None:
            await reply.refuse(404, f"generation {exchange.generation_id!r} not found")
            return
        generation.polls += 1
        url = self._base_url(scope, config) + file_path(generation.generation_id)
        payload = render_polled(generation, config, state.clock(), url)
        if reply.fault is not None and reply.fault.kind is FaultKind.MISSING_ID:
            del payload["id"]
        await reply.answer(payload)

    async def _file(self, reply: Reply) -> None:
        state, exchange = self._state, reply.exchange
        generation = state.store.get(exchange.generation_id or "")
        data = None
        if generation is not None and generation.phase(state.clock()) is GenerationStatus.COMPLETED:
            spec = generation.media or MediaSpec(size=reply.config.file_size)
            data = await state.media.file_bytes(generation.generation_id, spec)
        if data is None:
            await reply.refuse(404, f"no file {exchange.path!r}")
            return
        await reply.file(data, media.CONTENT_TYPE)

    # ---------------------------------------------------------------- helpers

    async def _media_spec(self, config: SimConfig, request: GenerationRequest) -> MediaSpec:
        """What the new generation's file will be; a rendering's first frame is decoded now."""
        if config.video_mode != "rendered":
            return MediaSpec(size=config.file_size)
        return await self._state.media.prepare(
            request.first_frame_image,
            width=config.video_width,
            height=config.video_height,
            fps=config.video_fps,
            seconds=request.duration,
        )

    @staticmethod
    def _authorised(scope: Scope, config: SimConfig) -> bool:
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
