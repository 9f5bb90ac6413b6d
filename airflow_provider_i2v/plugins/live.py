"""Live status of rendering generations, looked up on the gateway for one page of rows.

The record says "submitted" until the worker writes the outcome; the trigger that polls
meanwhile cannot write ``task_state_store``. So the page asks the gateway (a free GET)
for the rows it shows, and only those:

* at most :data:`MAX_LOOKUPS` ids per request (a page, never the table);
* at most :data:`CONCURRENCY` at once in the process, however many requests ask;
* all of a request's look-ups within :data:`TOTAL_TIMEOUT` seconds (what is not back by
  then is reported as "no answer in time" and cancelled);
* answers are kept :data:`TTL` seconds, and concurrent requests for one id share one call;
* on the api-server's event loop, through the provider's hook and its shared per-loop
  HTTP client; the connection is resolved (a database read) in a worker thread.

The key never leaves the hook: errors are reported by class name only.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

TTL = 10.0
CONCURRENCY = 8
TOTAL_TIMEOUT = 5.0
MAX_LOOKUPS = 100
#: Seconds a resolved connection (hook) is reused before it is read again.
HOOK_MAX_AGE = 300.0


@dataclass(frozen=True)
class Live:
    status: str | None
    progress: float | None
    error: str | None
    checked_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "progress": self.progress,
            "error": self.error,
            "checked_at": self.checked_at,
        }


Fetch = Callable[[str, str], Awaitable[Live]]


async def _run_in_thread(func: Callable[[], Any]) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func)


class LiveStatus:
    """Bounded, cached, concurrent gateway look-ups; one instance per api-server process."""

    def __init__(
        self,
        *,
        ttl: float = TTL,
        concurrency: int = CONCURRENCY,
        total_timeout: float = TOTAL_TIMEOUT,
        max_lookups: int = MAX_LOOKUPS,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.concurrency = concurrency
        self.total_timeout = total_timeout
        self.max_lookups = max_lookups
        self._fetch = fetch or self._fetch_with_hook
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Live]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Future[Live]] = {}
        self._hooks: dict[str, tuple[float, Any]] = {}
        #: One gate per event loop (the api-server has one; a test client may start several).
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        #: Gateway calls made (what the tests count).
        self.calls = 0

    async def _hook(self, conn_id: str) -> Any:
        now = self._clock()
        cached = self._hooks.get(conn_id)
        if cached is not None and now - cached[0] < HOOK_MAX_AGE:
            return cached[1]
        from airflow_provider_i2v.hooks.i2v import I2VHook

        hook = I2VHook(i2v_conn_id=conn_id)
        await _run_in_thread(hook.get_settings)  # a database/secrets read: never on the loop
        self._hooks[conn_id] = (now, hook)
        return hook

    async def _fetch_with_hook(self, conn_id: str, generation_id: str) -> Live:
        hook = await self._hook(conn_id)
        state = await hook.aget_generation(generation_id)
        return Live(str(state.status), state.progress, None, time.time())

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.concurrency)
        return gate

    async def _one(self, key: tuple[str, str]) -> Live:
        async with self._gate():
            self.calls += 1
            try:
                live = await self._fetch(*key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                live = Live(None, None, f"look-up failed ({type(exc).__name__})", time.time())
        self._cache[key] = (self._clock() + self.ttl, live)
        return live

    def _prune(self, now: float) -> None:
        if len(self._cache) > 10 * self.max_lookups:
            for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
                del self._cache[key]

    def _forget(self, key: tuple[str, str]) -> Callable[[asyncio.Future[Live]], None]:
        def done(_: asyncio.Future[Live]) -> None:
            self._inflight.pop(key, None)

        return done

    async def lookup(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Live]:
        """``{(conn_id, generation_id): Live}`` for at most ``max_lookups`` ids, within the time bound."""
        now = self._clock()
        self._prune(now)
        keys = list(dict.fromkeys(wanted))[: self.max_lookups]
        found: dict[tuple[str, str], Live] = {}
        waiting: dict[tuple[str, str], asyncio.Future[Live]] = {}
        for key in keys:
            cached = self._cache.get(key)
            if cached is not None and cached[0] > now:
                found[key] = cached[1]
            elif key in self._inflight:
                waiting[key] = self._inflight[key]
            else:
                task = asyncio.ensure_future(self._one(key))
                self._inflight[key] = task
                task.add_done_callback(self._forget(key))
                waiting[key] = task
        if waiting:
            done, pending = await asyncio.wait(set(waiting.values()), timeout=self.total_timeout)
            for future in pending:
                future.cancel()
            for key, future in waiting.items():
                if future in done and not future.cancelled() and future.exception() is None:
                    found[key] = future.result()
                else:
                    found[key] = Live(None, None, "no answer in time", time.time())
        return found
