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

What each fault does at its step is :mod:`.fault_answers`; this module is the gateway.
"""

from __future__ import annotations

import asyncio
import time

from airflow_provider_i2v.protocol import GenerationRequest, GenerationStatus, bearer_token

from . import asgi, fault_answers, media
from .asgi import Receive, Scope, Send
from .bodies import render_created, render_creation_failed, render_polled
from .config import SimConfig
from .faults import Fault, FaultKind
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
        if route.endpoint is Endpoint.CREATE:
            await self._create(scope, receive, send, exchange)
        elif route.endpoint is Endpoint.POLL:
            await self._poll(scope, receive, send, exchange)
        elif route.endpoint is Endpoint.FILES:
            await self._file(receive, send, exchange)
        else:
            await asgi.read_body(receive, MAX_REQUEST_BODY_BYTES)
            status = 405 if route.known_path else 404
            message = f"{exchange.method} {exchange.path}: no such endpoint"
            await fault_answers.refuse(None, self._state.config, send, receive, exchange, status, message)

    async def _create(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        state, config = self._state, self._state.config
        fault = self._pick(config, exchange)
        body, too_large = await asgi.read_body(receive, MAX_REQUEST_BODY_BYTES)
        if await fault_answers.answer_instead(fault, config, state.bodies, send, receive, exchange):
            return
        problem: tuple[int, str] | None = None
        if not self._authorised(scope, config):
            problem = 401, _UNAUTHORISED
        elif too_large:
            problem = 400, f"the request body is over {MAX_REQUEST_BODY_BYTES} bytes"
        else:
            try:
                if len(body) > _THREAD_PARSE_BYTES:
                    parsed = await asyncio.to_thread(read_create_request, body)
                else:
                    parsed = read_create_request(body)
            except InvalidCreateRequest as exc:
                problem = 400, str(exc)
        if problem is not None:
            await fault_answers.refuse(fault, config, send, receive, exchange, *problem)
            return
        request = parsed.request
        exchange.params = parsed.sent
        if fault is not None and fault.kind is FaultKind.MISSING_ID:
            # A 200 without an id is a failed creation (the vendor's CLI reads it so): nothing is created.
            payload = render_creation_failed(request.model, config)
            await fault_answers.answer(fault, config, state.bodies, send, receive, exchange, payload)
            return
        spec = await self._media_spec(config, request)
        generation = state.store.create(
            model=request.model, config=config, rng=state.rng, now=state.clock(), wall=time.time(), media=spec
        )
        state.recorder.accepted()
        exchange.generation_id = generation.generation_id
        payload = render_created(generation, config)
        await fault_answers.answer(fault, config, state.bodies, send, receive, exchange, payload)

    async def _poll(self, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        state, config = self._state, self._state.config
        fault = self._pick(config, exchange)
        await asgi.read_body(receive, MAX_REQUEST_BODY_BYTES)
        if await fault_answers.answer_instead(fault, config, state.bodies, send, receive, exchange):
            return
        if not self._authorised(scope, config):
            await fault_answers.refuse(fault, config, send, receive, exchange, 401, _UNAUTHORISED)
            return
        generation = state.store.get(exchange.generation_id or "")
        if generation is None:
            message = f"generation {exchange.generation_id!r} not found"
            await fault_answers.refuse(fault, config, send, receive, exchange, 404, message)
            return
        generation.polls += 1
        url = self._base_url(scope, config) + file_path(generation.generation_id)
        payload = render_polled(generation, config, state.clock(), url)
        if fault is not None and fault.kind is FaultKind.MISSING_ID:
            del payload["id"]
        await fault_answers.answer(fault, config, state.bodies, send, receive, exchange, payload)

    async def _file(self, receive: Receive, send: Send, exchange: Exchange) -> None:
        state, config = self._state, self._state.config
        fault = self._pick(config, exchange)
        await asgi.read_body(receive, MAX_REQUEST_BODY_BYTES)
        if await fault_answers.answer_instead(fault, config, state.bodies, send, receive, exchange):
            return
        generation = state.store.get(exchange.generation_id or "")
        data = None
        if generation is not None and generation.phase(state.clock()) is GenerationStatus.COMPLETED:
            data = await state.media.file_bytes(
                generation.generation_id, generation.media or MediaSpec(size=config.file_size)
            )
        if data is None:
            await fault_answers.refuse(
                fault, config, send, receive, exchange, 404, f"no file {exchange.path!r}"
            )
            return
        head = exchange.method == "HEAD"
        await fault_answers.hold(fault, config.slow_seconds, send, receive, exchange)
        exchange.status = 200
        if fault is not None and fault.kind is FaultKind.TRUNCATED_BODY:
            if not head:
                exchange.commit()
                await asgi.send_truncated(send, receive, 200, data, content_type=media.CONTENT_TYPE)
                return
            exchange.fault = None  # a HEAD has no body to truncate
        exchange.answered = True
        exchange.commit()
        await asgi.respond_stream(send, 200, data, content_type=media.CONTENT_TYPE, head_only=head)

    # ---------------------------------------------------------------- helpers

    def _pick(self, config: SimConfig, exchange: Exchange) -> Fault | None:
        fault = self._state.picker.pick(config.faults, exchange.endpoint, self._state.rng)
        exchange.fault = fault.kind if fault is not None else None
        return fault

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
