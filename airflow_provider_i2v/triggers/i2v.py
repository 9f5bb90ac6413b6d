"""The trigger: waits for one generation on the triggerer until it completes, fails or times out.

It only polls and fires (through the one wait loop, :mod:`airflow_provider_i2v.generation.wait`);
everything after the wait (outputs, XCom, the record) happens on the worker. It never
submits anything, so a triggerer restart or a move to another triggerer can never pay twice.

A triggerer runs thousands of these on one event loop, so a poll costs what the HTTP
request costs and little more (benchmarks/README.md): the connection is resolved once per
event loop for all triggers of it, the client and its pool are shared, nothing is logged
unless something changed.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_i2v.exceptions import I2VError
from airflow_provider_i2v.generation.schedule import Polling


@functools.cache
def freeze_startup_heap() -> None:
    """Once per trigger-runner process, and only when the deployment opts in
    (``[i2v] freeze_trigger_heap = True``, or ``AIRFLOW__I2V__FREEZE_TRIGGER_HEAP=True``):
    take what the process holds at our first start out of the garbage collector's full scans
    (``gc.freeze()``), as Airflow itself does before forking its LocalExecutor workers and its
    dag-processor.

    The runner is a fork of Airflow's triggerer with several hundred thousand objects from
    its imports; every full collection walks all of them, about 0.2 s on a busy 2-core
    machine. It changes the whole trigger-runner process (every provider's triggers in it),
    so it is off unless asked for; docs/deploying.md says when it helps.
    """
    try:
        from airflow.configuration import conf
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - an Airflow without the task SDK
        return
    if not conf.getboolean("i2v", "freeze_trigger_heap", fallback=False):
        return
    if type(getattr(task_runner, "SUPERVISOR_COMMS", None)).__name__ == "TriggerCommsDecoder":
        gc.freeze()


class I2VTaskTrigger(BaseTrigger):
    """Wait for generation ``generation_id`` on the triggerer and fire exactly one event.

    Its kwargs hold no secret and no image: the generation id, the connection id, the
    polling options and an absolute ``deadline`` (epoch seconds), so a triggerer restart or
    a move to another triggerer resumes polling the same generation with the same deadline.
    The generation is always polled at least once, even by a triggerer that picks the
    trigger up after its deadline: a finished, paid video is never reported as a timeout
    unseen. The event is described in :mod:`airflow_provider_i2v.generation.events`.

    :param generation_id: the remote generation to wait for.
    :param i2v_conn_id: the ``i2v`` connection to poll with.
    :param poll_interval: seconds between polls once completion is plausible.
    :param deadline: epoch seconds after which the trigger fires ``timeout``; ``None`` waits forever.
    :param started_at: epoch seconds the generation was submitted (elapsed time, schedule).
    :param max_poll_interval: longest pause while the render is far from done.
    :param adaptive_polling: follow the render (see :mod:`airflow_provider_i2v.generation.schedule`).
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
        adaptive_polling: bool = True,
        model: str | None = None,
        **legacy: Any,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.generation_id = generation_id
        self.i2v_conn_id = i2v_conn_id
        self.polling = Polling.of(
            poll_interval, max_poll_interval, bool(legacy.get("adaptive", adaptive_polling)), model
        )
        self.deadline = deadline
        self.started_at = started_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "generation_id": self.generation_id,
                "i2v_conn_id": self.i2v_conn_id,
                **self.polling.to_kwargs(),
                "deadline": self.deadline,
                "started_at": self.started_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_i2v.generation.events import error_event, single_event
        from airflow_provider_i2v.generation.wait import poll_until_terminal
        from airflow_provider_i2v.hooks.i2v import I2VHook

        freeze_startup_heap()
        try:
            result = await poll_until_terminal(
                I2VHook(i2v_conn_id=self.i2v_conn_id),
                [self.generation_id],
                self.polling,
                started_at=self.started_at,
                deadline=self.deadline,
                log=self.log,
            )
        except I2VError as exc:
            yield TriggerEvent(error_event(self.generation_id, exc))  # type: ignore[no-untyped-call]
            return
        if result.pending:
            self.log.error("Generation %s: deadline reached while still running", self.generation_id)
        yield TriggerEvent(single_event(self.generation_id, result))  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        self.log.warning(
            "Task killed while generation %s was running. The gateway has no cancel endpoint: the "
            "generation keeps running and may still be billed.",
            self.generation_id,
        )
