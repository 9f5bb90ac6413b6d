"""HTTP plumbing for the hook: shared clients, bounded reads, retries, shared back-off.

Why this module exists:

* **One client per process and connection.** Building an ``httpx.AsyncClient`` costs
  ~18 ms of CPU; a keep-alive poll ~1 ms. Clients are cached per (event loop,
  base URL, options); the API key is sent per request, so it is never held by a
  shared object.
* **A hostile or broken server cannot hurt the process.** Every answer is read as a
  stream, capped at :data:`~airflow_provider_i2v.protocol.MAX_RESPONSE_BYTES`, and
  bounded in total time, so a server that sends gigabytes or drips bytes forever
  fails one request instead of exhausting the triggerer.
* **Retries never pay twice.** Transient failures (408/429/5xx, resets, timeouts,
  malformed bodies) are retried with capped, jittered exponential back-off
  (tenacity), honouring ``Retry-After``. A *create* is repeated only when the
  failure proves nothing was created (connection refused, 408, 429); otherwise the
  caller learns that a generation may exist and may have been paid for.
* **Back-off is shared.** All requests of one account in one process wait behind
  the same gate: when the gateway says 429 to one trigger, every trigger of that
  connection slows down.

httpx is imported here and only here; importing the operator at DAG-parse time
never reaches this module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import tenacity

from airflow_provider_i2v import __version__
from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VConnectionConfigError,
    I2VCreationUncertainError,
    I2VError,
    I2VGenerationNotFoundError,
    I2VInvalidRequestError,
    I2VPermissionError,
    I2VTransientError,
)
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.protocol import (
    MAX_RESPONSE_BYTES,
    ErrorKind,
    GenerationState,
    MalformedResponseError,
    MissingGenerationIdError,
    auth_header,
    classify_status,
    decode_json,
    error_message,
    parse_generation,
    parse_retry_after,
)

USER_AGENT = f"airflow-provider-i2v/{__version__} httpx/{httpx.__version__}"
#: Connections per shared client. httpcore assigns each request by scanning its pool, so a
#: pool as large as the number of triggers makes every poll O(triggers); a bounded pool
#: keeps a poll cheap, and a poll takes milliseconds, so few connections serve thousands
#: of triggers polling every few seconds.
POOL_CONNECTIONS = 32
#: Longest a single ``Retry-After`` is honoured; a longer one is capped to this.
MAX_RETRY_AFTER = 300.0

log = logging.getLogger(__name__)
_Client = TypeVar("_Client", httpx.Client, httpx.AsyncClient)


@dataclass(frozen=True)
class Call:
    """One logical gateway call: what it is for decides what may be repeated."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    #: True for a create: repeating it after an unknown outcome could pay twice.
    creates: bool = False
    #: Included in log lines and errors (e.g. the generation id being polled).
    label: str = ""
    generation_id: str | None = None


class TransientFailure(Exception):
    """A failure worth another attempt; ``nothing_created`` says whether a create may be repeated."""

    def __init__(
        self,
        message: str,
        *,
        nothing_created: bool,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.nothing_created = nothing_created
        #: The gateway said 429: the whole account must slow down, not only this caller.
        self.throttled = throttled


# --------------------------------------------------------------------------------------
# Shared clients and back-off gates
# --------------------------------------------------------------------------------------

_lock = threading.Lock()
_sync_clients: dict[tuple[Any, ...], httpx.Client] = {}
_async_clients: dict[tuple[int, tuple[Any, ...]], tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}
_gates: dict[tuple[Any, ...], BackoffGate] = {}


def _client_options(settings: ConnectionSettings) -> dict[str, Any]:
    return {
        "base_url": settings.base_url,
        "timeout": httpx.Timeout(settings.timeout),
        "verify": settings.verify,
        "proxy": settings.proxy,
        "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        "limits": httpx.Limits(
            max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS, keepalive_expiry=60
        ),
        "follow_redirects": False,
        "trust_env": False,
    }


def _build(factory: Callable[..., _Client], settings: ConnectionSettings) -> _Client:
    """Build a client; options that cannot work (a missing CA bundle, an unsupported proxy
    scheme) are a configuration error no retry can fix."""
    try:
        return factory(**_client_options(settings))
    except (OSError, ImportError, ValueError, TypeError) as exc:
        raise I2VConnectionConfigError(
            f"cannot build an HTTP client from the connection's verify_ssl/proxy settings: "
            f"{type(exc).__name__}: {exc}"
        ) from None


def sync_client(settings: ConnectionSettings) -> httpx.Client:
    """The process-wide blocking client for these settings."""
    with _lock:
        client = _sync_clients.get(settings.client_key)
        if client is None or client.is_closed:
            client = _build(httpx.Client, settings)
            _sync_clients[settings.client_key] = client
        return client


def async_client(settings: ConnectionSettings) -> httpx.AsyncClient:
    """The async client for these settings on the running event loop (one per loop)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), settings.client_key)
    with _lock:
        entry = _async_clients.get(key)
        if entry is not None and entry[0] is loop and not entry[1].is_closed:
            return entry[1]
        # Forget clients of loops that are gone (tests and `airflow dags test` make many loops).
        for stale in [k for k, (lp, _) in _async_clients.items() if lp.is_closed()]:
            del _async_clients[stale]
        client = _build(httpx.AsyncClient, settings)
        _async_clients[key] = (loop, client)
        return client


class BackoffGate:
    """A not-before time shared by every request of one account in one process."""

    def __init__(self) -> None:
        self._not_before = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next request may go out."""
        return max(0.0, self._not_before - time.monotonic())

    def push(self, seconds: float) -> None:
        """Nobody sends before ``seconds`` from now (never shortens an existing wait)."""
        self._not_before = max(self._not_before, time.monotonic() + seconds)


def _spread(pause: float) -> float:
    """Up to 20 % (at most 1 s) more, so callers released by one gate do not all fire at once."""
    return pause + random.uniform(0.0, min(1.0, pause * 0.2))


def backoff_gate(settings: ConnectionSettings) -> BackoffGate:
    with _lock:
        gate = _gates.get(settings.account_key)
        if gate is None:
            gate = _gates[settings.account_key] = BackoffGate()
        return gate


def reset_shared_state() -> None:
    """Forget cached clients and gates (for tests; open clients are left to the GC)."""
    with _lock:
        _sync_clients.clear()
        _async_clients.clear()
        _gates.clear()


# --------------------------------------------------------------------------------------
# Reading one answer
# --------------------------------------------------------------------------------------


def _interpret(call: Call, response: httpx.Response, body: bytes) -> GenerationState:
    """Turn one answer into a generation, a :class:`TransientFailure`, or a typed error."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            return parse_generation(decode_json(body))
        except MissingGenerationIdError as exc:
            # The vendor CLI treats a 200 without an id as a failed creation: nothing exists.
            raise TransientFailure(f"HTTP {status} but {exc}", nothing_created=True) from None
        except MalformedResponseError as exc:
            raise TransientFailure(f"HTTP {status} but {exc}", nothing_created=False) from None
    message = f"HTTP {status}: {error_message(body)}"
    kind = classify_status(status)
    if kind is ErrorKind.TRANSIENT:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        # 408 and 429 mean the request was not processed; a 5xx proves nothing.
        nothing_created = status in (408, 429)
        raise TransientFailure(
            message, retry_after=retry_after, nothing_created=nothing_created, throttled=status == 429
        )
    gid = call.generation_id
    if kind is ErrorKind.AUTH:
        raise I2VAuthenticationError(f"the API key was refused ({message})", generation_id=gid)
    if kind is ErrorKind.FORBIDDEN:
        raise I2VPermissionError(f"insufficient balance or permission ({message})", generation_id=gid)
    if kind is ErrorKind.NOT_FOUND:
        if call.creates or not _is_json(body):
            # The create endpoint is missing, or a non-JSON 404: this host is not the gateway
            # (or the base URL has a wrong path). No retry can fix that.
            raise I2VConnectionConfigError(
                f"{response.request.url} answered {message}: is the connection's host the Vtrix "
                "gateway's base URL?",
                generation_id=gid,
            )
        raise I2VGenerationNotFoundError(f"the gateway does not know it ({message})", generation_id=gid)
    raise I2VInvalidRequestError(f"the gateway refused the request ({message})", generation_id=gid)


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


def _transport_failure(exc: httpx.HTTPError | TimeoutError) -> TransientFailure:
    # Only a failure before the request left the machine proves nothing was created.
    nothing_created = isinstance(
        exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.LocalProtocolError
    )
    # A LocalProtocolError quotes the offending header, which may be the Authorization one.
    detail = "" if isinstance(exc, httpx.LocalProtocolError) else str(exc)
    detail = detail or type(exc).__name__
    return TransientFailure(f"{type(exc).__name__}: {detail}", nothing_created=nothing_created)


def _too_big(total: int) -> TransientFailure:
    return TransientFailure(
        f"answer larger than {MAX_RESPONSE_BYTES} bytes (read {total}); refusing to read more",
        nothing_created=False,
    )


def _send_sync(client: httpx.Client, settings: ConnectionSettings, call: Call) -> GenerationState:
    deadline = time.monotonic() + settings.timeout * 2
    try:
        with client.stream(
            call.method, call.path, json=call.json, headers=auth_header(settings.api_key)
        ) as r:
            chunks: list[bytes] = []
            total = 0
            for chunk in r.iter_bytes():
                total += len(chunk)
                if total > MAX_RESPONSE_BYTES:
                    raise _too_big(total)
                if time.monotonic() > deadline:
                    raise TransientFailure("the answer took too long to arrive", nothing_created=False)
                chunks.append(chunk)
            return _interpret(call, r, b"".join(chunks))
    except httpx.HTTPError as exc:
        raise _transport_failure(exc) from None


async def _send_async(client: httpx.AsyncClient, settings: ConnectionSettings, call: Call) -> GenerationState:
    try:
        async with asyncio.timeout(settings.timeout * 2):
            headers = auth_header(settings.api_key)
            async with client.stream(call.method, call.path, json=call.json, headers=headers) as r:
                chunks: list[bytes] = []
                total = 0
                async for chunk in r.aiter_bytes():
                    total += len(chunk)
                    if total > MAX_RESPONSE_BYTES:
                        raise _too_big(total)
                    chunks.append(chunk)
                return _interpret(call, r, b"".join(chunks))
    except (httpx.HTTPError, TimeoutError) as exc:
        raise _transport_failure(exc) from None


# --------------------------------------------------------------------------------------
# Retrying
# --------------------------------------------------------------------------------------


def _may_retry(call: Call) -> Callable[[BaseException], bool]:
    def predicate(exc: BaseException) -> bool:
        if not isinstance(exc, TransientFailure):
            return False
        return exc.nothing_created or not call.creates

    return predicate


def _wait(settings: ConnectionSettings, gate: BackoffGate) -> Callable[[tenacity.RetryCallState], float]:
    exponential = tenacity.wait_exponential_jitter(
        multiplier=settings.backoff_initial, max=settings.backoff_max, jitter=settings.backoff_initial
    )

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        seconds = float(exponential(state))
        if isinstance(exc, TransientFailure) and exc.retry_after is not None:
            seconds = min(exc.retry_after, MAX_RETRY_AFTER)
        if isinstance(exc, TransientFailure) and exc.throttled:
            gate.push(seconds)  # everyone on this account waits, not only this caller
        return seconds

    return wait


def _retrying_kwargs(
    settings: ConnectionSettings, call: Call, gate: BackoffGate, logger: Any
) -> dict[str, Any]:
    attempts = settings.max_retries + 1

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "Gateway %s failed (%s); retrying in %.1f s (attempt %d of %d)",
            call.label or call.path,
            exc,
            wait,
            state.attempt_number + 1,
            attempts,
        )

    return {
        "stop": tenacity.stop_after_attempt(attempts),
        "wait": _wait(settings, gate),
        "retry": tenacity.retry_if_exception(_may_retry(call)),
        "reraise": True,
        "before_sleep": before_sleep,
    }


def _final_error(call: Call, exc: TransientFailure, logger: Any, attempts: int) -> I2VError:
    if call.creates and not exc.nothing_created:
        logger.warning(
            "The create request's outcome is unknown (%s): a generation MAY have been created and "
            "paid for on the gateway. It was not repeated automatically, to avoid paying twice.",
            exc.message,
        )
        return I2VCreationUncertainError(
            f"create request sent but its answer was lost ({exc.message}); a generation may have been "
            "created and paid for"
        )
    return I2VTransientError(
        f"{call.label or call.path} kept failing after {attempts} attempt(s): {exc.message}",
        generation_id=call.generation_id,
    )


def request_sync(settings: ConnectionSettings, call: Call, logger: Any = log) -> GenerationState:
    """Perform ``call`` from a worker, retrying transient failures within the budget."""
    client = sync_client(settings)
    gate = backoff_gate(settings)
    kwargs = _retrying_kwargs(settings, call, gate, logger)
    attempt_count = 0
    try:
        for attempt in tenacity.Retrying(sleep=time.sleep, **kwargs):
            with attempt:
                attempt_count += 1
                if (pause := gate.delay()) > 0:
                    time.sleep(_spread(pause))
                return _send_sync(client, settings, call)
    except TransientFailure as exc:
        raise _final_error(call, exc, logger, attempt_count) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover


async def request_async(settings: ConnectionSettings, call: Call, logger: Any = log) -> GenerationState:
    """Perform ``call`` on an event loop (the triggerer), never blocking it."""
    client = async_client(settings)
    gate = backoff_gate(settings)
    kwargs = _retrying_kwargs(settings, call, gate, logger)
    attempt_count = 0
    try:
        async for attempt in tenacity.AsyncRetrying(sleep=asyncio.sleep, **kwargs):
            with attempt:
                attempt_count += 1
                if (pause := gate.delay()) > 0:
                    await asyncio.sleep(_spread(pause))
                return await _send_async(client, settings, call)
    except TransientFailure as exc:
        raise _final_error(call, exc, logger, attempt_count) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
