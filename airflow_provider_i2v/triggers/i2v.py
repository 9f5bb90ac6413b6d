"""The trigger: polls one generation on the triggerer until it completes, fails or times out.

It only polls and fires; everything after the wait (outputs, XCom, success) happens
on the worker. It never submits anything, so a triggerer restart or a move to another
triggerer can never pay twice.

A triggerer runs thousands of these on one event loop, so a poll costs what the HTTP
request costs and little more (benchmarks/README.md): the connection is resolved once per
event loop for all triggers of it, the client and its pool are shared, nothing is logged
unless something changed.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_i2v.events import error_payload, terminal_payload, timeout_payload
from airflow_provider_i2v.exceptions import I2VAuthenticationError, I2VError, I2VTransientError
from airflow_provider_i2v.progress import ProgressReporter
from airflow_provider_i2v.protocol import GenerationState, GenerationStatus
from airflow_provider_i2v.schedule import PollSchedule

if TYPE_CHECKING:
    from airflow_provider_i2v.hooks.interpret import Call
    from airflow_provider_i2v.hooks.settings import ConnectionSettings

#: The least time the first poll gets, even past the deadline (a triggerer that picks the
#: trigger up late): one request answers in milliseconds, so a finished video is seen.
FIRST_POLL_MIN = 3.0
_heap = {"frozen": False}


def freeze_startup_heap() -> None:
    """Once per trigger-runner process, take what it holds at our first start out of the
    garbage collector's full scans (``gc.freeze()``).

    The runner is a fork of Airflow's triggerer with several hundred thousand objects from
    its imports; every full collection walks all of them, about 0.2 s on a busy 2-core
    machine, and the allocations of many polls trigger one every few tens of seconds: each
    is a "Triggerer's async thread was blocked" warning. Those objects live as long as the
    process, so freezing them loses nothing (reference counting still frees what dies) and
    a full collection then walks only what the triggers hold. Nothing happens outside
    Airflow's trigger runner (``airflow dags test``, tests, a worker).
    """
    if _heap["frozen"]:
        return
    _heap["frozen"] = True
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - an Airflow without the task SDK
        return
    if type(getattr(task_runner, "SUPERVISOR_COMMS", None)).__name__ == "TriggerCommsDecoder":
        gc.freeze()


class I2VTaskTrigger(BaseTrigger):
    """Wait for generation ``generation_id`` on the triggerer and fire exactly one event.

    Its kwargs hold no secret and no image: the generation id, the connection id, the
    polling schedule and an absolute ``deadline`` (epoch seconds), so a triggerer
    restart or a move to another triggerer resumes polling the same generation with
    the same deadline. The generation is always polled at least once, even by a
    triggerer that picks the trigger up after its deadline: a finished, paid video is
    never reported as a timeout unseen.

    The event payload is described in :mod:`airflow_provider_i2v.events`.

    :param generation_id: the remote generation to wait for.
    :param i2v_conn_id: the ``i2v`` connection to poll with.
    :param poll_interval: seconds between polls once completion is plausible.
    :param deadline: epoch seconds after which the trigger fires ``timeout``; ``None`` waits forever.
    :param started_at: epoch seconds the generation was submitted (elapsed time, schedule).
    :param max_poll_interval: longest pause while the render is far from done (default: ``poll_interval``).
    :param adaptive: follow the render (see :mod:`airflow_provider_i2v.schedule`).
    :param model: the generation's model (whose recent render times the schedule learns from).
    """

    def __init__(
        self,
        *,
        generation_id: str,
        i2v_conn_id: str,
        poll_interval: float,
        deadline: float | None = None,
        started_at: float | None = None,
        max_poll_interval: float | None = None,
        adaptive: bool = False,
        model: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.generation_id = generation_id
        self.i2v_conn_id = i2v_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.started_at = started_at
        self.max_poll_interval = max(float(max_poll_interval or 0.0), self.poll_interval)
        self.adaptive = bool(adaptive)
        self.model = model

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "generation_id": self.generation_id,
                "i2v_conn_id": self.i2v_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "started_at": self.started_at,
                "max_poll_interval": self.max_poll_interval,
                "adaptive": self.adaptive,
                "model": self.model,
            },
        )

    def _event(self, payload: dict[str, Any]) -> TriggerEvent:
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]

    def _cutoff(self, first: bool) -> float | None:
        """Where a poll is cut off, on the loop's clock: the deadline, but never sooner than
        :data:`FIRST_POLL_MIN` for the first poll."""
        if self.deadline is None:
            return None
        left = self.deadline - time.time()
        if first:
            left = max(left, FIRST_POLL_MIN)
        return asyncio.get_running_loop().time() + left

    async def _resolve(self) -> ConnectionSettings:
        from airflow_provider_i2v.hooks.i2v import I2VHook

        return await I2VHook(i2v_conn_id=self.i2v_conn_id).aget_settings()

    async def _poll(self, call: Call) -> GenerationState:
        """One status lookup with the connection shared by every trigger of this event loop;
        a refused key is looked up again once (it may have been rotated since)."""
        from airflow_provider_i2v.hooks.clients import shared_settings
        from airflow_provider_i2v.hooks.transport import request_async

        settings = await shared_settings(self.i2v_conn_id, self._resolve)
        try:
            return await request_async(settings, call, self.log)
        except I2VAuthenticationError:
            fresh = await shared_settings(self.i2v_conn_id, self._resolve, stale=settings)
            if fresh.api_key == settings.api_key:
                raise
            return await request_async(fresh, call, self.log)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_i2v.hooks.i2v import I2VHook

        freeze_startup_heap()
        call = I2VHook._poll_call(self.generation_id)
        schedule = PollSchedule(
            self.poll_interval, self.max_poll_interval, adaptive=self.adaptive, model=self.model
        )
        reporter = ProgressReporter(self.generation_id, self.log, self.started_at)
        self.log.debug("Polling generation %s every %.1f s", self.generation_id, self.poll_interval)
        progress: float | None = None
        first = True
        while True:
            state: GenerationState | None = None
            try:
                # One poll, retries and back-off included, never runs past the deadline.
                async with asyncio.timeout_at(self._cutoff(first)):
                    state = await self._poll(call)
            except TimeoutError:
                pass  # the deadline check below fires the timeout event
            except I2VTransientError as exc:
                # The retry budget of one poll is spent; the paid generation is still worth
                # waiting for, so keep polling until the deadline.
                self.log.warning(
                    "Generation %s: status unavailable (%s); will poll again", self.generation_id, exc
                )
            except I2VError as exc:
                yield self._event(error_payload(self.generation_id, exc))
                return
            first = False
            now = time.time()
            elapsed = None if self.started_at is None else now - self.started_at
            if state is not None:
                reporter.observe(state)
                if state.status.is_terminal:
                    if state.status is GenerationStatus.COMPLETED:
                        schedule.completed(elapsed, state.render_seconds)
                    yield self._event(terminal_payload(state))
                    return
                progress = state.progress if state.progress is not None else progress
            remaining = None if self.deadline is None else self.deadline - now
            if remaining is not None and remaining <= 0:
                self.log.error("Generation %s: deadline reached while still running", self.generation_id)
                yield self._event(timeout_payload(self.generation_id))
                return
            await asyncio.sleep(schedule.next_delay(elapsed, progress, remaining))

    async def on_kill(self) -> None:
        self.log.warning(
            "Task killed while generation %s was running. The gateway has no cancel endpoint: the "
            "generation keeps running and may still be billed.",
            self.generation_id,
        )
