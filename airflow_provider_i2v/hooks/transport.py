"""One gateway call, blocking (worker) or async (triggerer), with retries that never pay twice.

* Transient failures (408/429/5xx, resets, timeouts, malformed bodies) are retried
  with capped, jittered exponential back-off (tenacity), honouring ``Retry-After``,
  within the connection's budget.
* A *create* is repeated only when the failure proves nothing was created
  (:mod:`~airflow_provider_i2v.hooks.interpret` decides); otherwise the caller gets
  :class:`~airflow_provider_i2v.exceptions.I2VCreationUncertainError`.
* Every request waits behind its account's shared back-off gate.

Every call runs inside tenacity's loop, the first attempt too: that costs ~14 µs of CPU
per call, under 1 % of a poll's ~1.7 ms on a triggerer (docs/deploying.md).

A URL whose scheme httpx cannot send (``htps://``, ``ftp://``) is a configuration
error: nothing left the machine, so not even a create is in doubt.

httpx is imported by the hooks package only; importing the operator at DAG-parse time
never reaches this module.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import tenacity

from airflow_provider_i2v import metrics
from airflow_provider_i2v.exceptions import (
    I2VConnectionConfigError,
    I2VCreationUncertainError,
    I2VError,
    I2VTransientError,
)
from airflow_provider_i2v.hooks.backoff import MAX_RETRY_AFTER, BackoffGate, backoff_gate, reset_gates, spread
from airflow_provider_i2v.hooks.body import BoundedBody
from airflow_provider_i2v.hooks.clients import async_client, reset_clients, sync_client
from airflow_provider_i2v.hooks.interpret import Call, TransientFailure, interpret, transport_failure
from airflow_provider_i2v.hooks.settings import ConnectionSettings
from airflow_provider_i2v.protocol import GenerationState, auth_header

__all__ = ["Call", "request_async", "request_sync", "reset_shared_state", "retry_wait"]

log = logging.getLogger(__name__)


def reset_shared_state() -> None:
    """Forget cached clients and back-off gates (for tests)."""
    reset_clients()
    reset_gates()


# --------------------------------------------------------------------------------------
# One attempt
# --------------------------------------------------------------------------------------


def _send_sync(client: httpx.Client, settings: ConnectionSettings, call: Call) -> GenerationState:
    deadline = time.monotonic() + settings.timeout * 2
    try:
        with client.stream(
            call.method, call.path, json=call.json, headers=auth_header(settings.api_key)
        ) as response:
            body = BoundedBody(response.headers, deadline)
            for chunk in response.iter_bytes():
                body.add(chunk)
            return interpret(call, response.status_code, response.headers, body.content(), str(response.url))
    except httpx.UnsupportedProtocol as exc:
        raise _unsupported(settings, exc) from None
    except httpx.HTTPError as exc:
        raise transport_failure(exc) from None


async def _send_async(client: httpx.AsyncClient, settings: ConnectionSettings, call: Call) -> GenerationState:
    total = settings.timeout * 2
    try:
        async with asyncio.timeout(total):
            headers = auth_header(settings.api_key)
            async with client.stream(call.method, call.path, json=call.json, headers=headers) as response:
                body = BoundedBody(response.headers, time.monotonic() + total)
                async for chunk in response.aiter_bytes():
                    body.add(chunk)
                return interpret(
                    call, response.status_code, response.headers, body.content(), str(response.url)
                )
    except httpx.UnsupportedProtocol as exc:
        raise _unsupported(settings, exc) from None
    except (httpx.HTTPError, TimeoutError) as exc:
        raise transport_failure(exc) from None


def _unsupported(settings: ConnectionSettings, exc: httpx.UnsupportedProtocol) -> I2VConnectionConfigError:
    return I2VConnectionConfigError(
        f"the connection's base URL {settings.base_url!r} cannot be used ({exc}); it must start with "
        "https:// or http://. Nothing was sent."
    )


def _attempt_sync(client: httpx.Client, gate: BackoffGate, settings: ConnectionSettings, call: Call) -> Any:
    if (pause := gate.delay()) > 0:
        time.sleep(spread(pause))
    return _send_sync(client, settings, call)


async def _attempt_async(
    client: httpx.AsyncClient, gate: BackoffGate, settings: ConnectionSettings, call: Call
) -> Any:
    if (pause := gate.delay()) > 0:
        await asyncio.sleep(spread(pause))
    return await _send_async(client, settings, call)


# --------------------------------------------------------------------------------------
# Retrying
# --------------------------------------------------------------------------------------


def _may_retry(call: Call) -> Callable[[BaseException], bool]:
    def predicate(exc: BaseException) -> bool:
        if not isinstance(exc, TransientFailure):
            return False
        return exc.nothing_created or not call.creates

    return predicate


def retry_wait(
    settings: ConnectionSettings, gate: BackoffGate | None = None
) -> Callable[[tenacity.RetryCallState], float]:
    """The one back-off policy: capped, jittered exponential from the connection's
    ``backoff_initial``/``backoff_max``; a :class:`TransientFailure`'s ``Retry-After`` wins,
    capped at :data:`~.backoff.MAX_RETRY_AFTER`. With a ``gate``, a 429 makes the whole
    account wait. Gateway calls and output downloads both use it."""
    exponential = tenacity.wait_exponential_jitter(
        multiplier=settings.backoff_initial, max=settings.backoff_max, jitter=settings.backoff_initial
    )

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        seconds = float(exponential(state))
        if isinstance(exc, TransientFailure) and exc.retry_after is not None:
            seconds = min(exc.retry_after, MAX_RETRY_AFTER)
        if gate is not None and isinstance(exc, TransientFailure) and exc.throttled:
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

    def after(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientFailure) and exc.throttled:
            metrics.throttled("create" if call.creates else "poll")

    return {
        "stop": tenacity.stop_after_attempt(attempts),
        "wait": retry_wait(settings, gate),
        "after": after,
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
    retrying = tenacity.Retrying(sleep=time.sleep, **_retrying_kwargs(settings, call, gate, logger))
    try:
        result: GenerationState = retrying(_attempt_sync, client, gate, settings, call)
        return result
    except TransientFailure as exc:
        raise _final_error(call, exc, logger, retrying.statistics.get("attempt_number", 1)) from None


async def request_async(settings: ConnectionSettings, call: Call, logger: Any = log) -> GenerationState:
    """Perform ``call`` on an event loop (the triggerer), never blocking it."""
    client = async_client(settings)
    gate = backoff_gate(settings)
    retrying = tenacity.AsyncRetrying(sleep=asyncio.sleep, **_retrying_kwargs(settings, call, gate, logger))
    try:
        result: GenerationState = await retrying(_attempt_async, client, gate, settings, call)
        return result
    except TransientFailure as exc:
        raise _final_error(call, exc, logger, retrying.statistics.get("attempt_number", 1)) from None
