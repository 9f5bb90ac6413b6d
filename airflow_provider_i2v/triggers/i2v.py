"""The trigger: polls one generation on the triggerer until it completes, fails or times out."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_i2v.exceptions import I2VError, I2VTransientError
from airflow_provider_i2v.progress import ProgressReporter
from airflow_provider_i2v.results import EVENT_ERROR, EVENT_TIMEOUT


class I2VTaskTrigger(BaseTrigger):
    """Wait for generation ``generation_id`` on the triggerer and fire exactly one event.

    Its kwargs hold no secret and no image: the generation id, the connection id, the
    poll interval and an absolute ``deadline`` (epoch seconds), so a triggerer restart
    or a move to another triggerer resumes polling the same generation with the same
    deadline and never submits anything.

    The event payload is ``{"status": "completed" | "failed" | "timeout" | "error",
    "generation_id": ..., "response": <last gateway answer>, "message": ...,
    "error_class": ..., "code": ...}``.

    :param generation_id: the remote generation to wait for.
    :param i2v_conn_id: the ``i2v`` connection to poll with.
    :param poll_interval: seconds between status polls.
    :param deadline: epoch seconds after which the trigger fires ``timeout``; ``None`` waits forever.
    :param started_at: epoch seconds the generation was submitted (for elapsed time in logs).
    """

    def __init__(
        self,
        *,
        generation_id: str,
        i2v_conn_id: str,
        poll_interval: float,
        deadline: float | None = None,
        started_at: float | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.generation_id = generation_id
        self.i2v_conn_id = i2v_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = deadline
        self.started_at = started_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "generation_id": self.generation_id,
                "i2v_conn_id": self.i2v_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "started_at": self.started_at,
            },
        )

    def _loop_deadline(self) -> float | None:
        """The deadline on the event loop's clock, for ``asyncio.timeout_at``."""
        if self.deadline is None:
            return None
        return asyncio.get_running_loop().time() + (self.deadline - time.time())

    def _event(self, status: str, **fields: Any) -> TriggerEvent:
        payload = {"status": status, "generation_id": self.generation_id, **fields}
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_i2v.hooks.i2v import I2VHook

        hook = I2VHook(i2v_conn_id=self.i2v_conn_id)
        reporter = ProgressReporter(self.generation_id, self.log, self.started_at)
        self.log.info("Polling generation %s every %.1f s", self.generation_id, self.poll_interval)
        while True:
            try:
                # One poll, retries and back-off included, never runs past the deadline.
                async with asyncio.timeout_at(self._loop_deadline()):
                    state = await hook.aget_generation(self.generation_id)
            except TimeoutError:
                pass  # the deadline check below fires the timeout event
            except I2VTransientError as exc:
                # The retry budget of one poll is spent; the paid generation is still worth
                # waiting for, so keep polling (slowly) until the deadline.
                self.log.warning(
                    "Generation %s: status unavailable (%s); will poll again", self.generation_id, exc
                )
            except I2VError as exc:
                yield self._event(
                    EVENT_ERROR, message=exc.message, error_class=type(exc).__name__, code=exc.code
                )
                return
            else:
                reporter.observe(state)
                if state.status.is_terminal:
                    yield self._event(state.status.value, response=dict(state.raw))
                    return
            remaining = None if self.deadline is None else self.deadline - time.time()
            if remaining is not None and remaining <= 0:
                self.log.error("Generation %s: deadline reached while still running", self.generation_id)
                yield self._event(EVENT_TIMEOUT, message="deadline reached while the generation was running")
                return
            # +-10 % jitter: triggers deferred together (a mapped task) drift apart instead of
            # polling the gateway, and the event loop, in synchronised bursts.
            pause = self.poll_interval * random.uniform(0.9, 1.1)
            await asyncio.sleep(pause if remaining is None else min(pause, remaining))

    async def on_kill(self) -> None:
        self.log.warning(
            "Task killed while generation %s was running. The gateway has no cancel endpoint: the "
            "generation keeps running and may still be billed.",
            self.generation_id,
        )
