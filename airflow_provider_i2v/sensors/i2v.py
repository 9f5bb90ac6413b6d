"""The sensor: wait for a generation submitted elsewhere (another DAG, a script, the vendor CLI)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_i2v.generation.schedule import Polling
from airflow_provider_i2v.hooks.settings import DEFAULT_CONN_ID
from airflow_provider_i2v.links.i2v import I2VVideoLink
from airflow_provider_i2v.protocol import DEFAULT_MODEL

if TYPE_CHECKING:
    import datetime

    from airflow.sdk import Context

    from airflow_provider_i2v.generation.outcome import Outcome
    from airflow_provider_i2v.generation.progress import ProgressReporter
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.protocol import GenerationState


class I2VTaskSensor(BaseSensorOperator):
    """Wait until generation ``generation_id`` completes and return the operator's result dict.

    Deferrable by default (the wait happens on the triggerer); ``deferrable=False``
    pokes from the worker (``mode="poke"`` or ``"reschedule"``), with the same polling
    schedule as the trigger. It never submits anything: it costs nothing. A failed
    generation fails the sensor with the gateway's code and message. Its ``timeout``
    is one absolute deadline, kept in ``task_state_store`` from the first try, so a
    retry does not start the clock again; a clear of the task (or its run) starts a new one.

    :param generation_id: the generation to wait for. Templated.
    :param i2v_conn_id: the ``i2v`` connection.
    :param deferrable: wait on the triggerer (default).
    :param poll_interval: seconds between polls once completion is plausible.
    :param max_poll_interval: longest pause while the render is far from done.
    :param adaptive_polling: follow the render instead of polling every ``poll_interval``.
    """

    template_fields: Sequence[str] = ("generation_id",)
    ui_color = "#efe6ff"
    operator_extra_links = (I2VVideoLink(),)

    def __init__(
        self,
        *,
        generation_id: str,
        i2v_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = True,
        poll_interval: float = 10.0,
        max_poll_interval: float = 60.0,
        adaptive_polling: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.generation_id = generation_id
        self.i2v_conn_id = i2v_conn_id
        self.deferrable = deferrable
        self.polling = Polling.of(poll_interval, max_poll_interval, adaptive_polling)
        self._reporter: ProgressReporter | None = None
        #: The last "still running" answer (the poke schedule follows its progress and age).
        self._last: GenerationState | None = None
        #: Ids the gateway said it does not know, across pokes (a 404 is believed the second time).
        self._missing: set[str] = set()
        self._deadline: float | None = None

    @cached_property
    def hook(self) -> I2VHook:
        """Resolved once per task process (poke mode pokes many times in one process)."""
        from airflow_provider_i2v.hooks.i2v import I2VHook

        return I2VHook(i2v_conn_id=self.i2v_conn_id)

    def _timeout_error(self, generation_id: str) -> AirflowSensorTimeout:
        # The same exception as poke mode's timeout: the task fails without burning retries.
        return AirflowSensorTimeout(
            f"[generation {generation_id}] still running after the sensor's timeout of {self.timeout:.0f}s"
        )

    def _start(self, context: Context) -> float:
        """Push the id like the operator does; the deadline, the same for every retry of this
        clear of the task instance (a clear raises ``max_tries``, so it starts a new one)."""
        import time

        from airflow_provider_i2v.generation.keys import XCOM_GENERATION_ID
        from airflow_provider_i2v.generation.record import SENSOR_KEY, read_key, write_with_retries

        ti = context["ti"]
        ti.xcom_push(key=XCOM_GENERATION_ID, value=self.generation_id)
        store = context.get("task_state_store")
        epoch = int(getattr(ti, "max_tries", 0) or 0)
        stored = read_key(store, SENSOR_KEY)
        if (
            isinstance(stored, dict)
            and stored.get("epoch") == epoch
            and isinstance(stored.get("deadline"), float)
        ):
            return float(stored["deadline"])
        deadline = time.time() + float(self.timeout)
        if store is not None:
            write_with_retries(store, SENSOR_KEY, {"deadline": deadline, "epoch": epoch}, paid=None)
        return deadline

    def execute(self, context: Context) -> Any:
        self._deadline = self._start(context)
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

        self.defer(
            trigger=I2VTaskTrigger(
                generation_id=self.generation_id,
                i2v_conn_id=self.i2v_conn_id,
                **self.polling.to_kwargs(),
                deadline=self._deadline,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One poll through the one wait loop (a wait whose deadline is now polls once)."""
        import asyncio

        from airflow_provider_i2v.generation.progress import ProgressReporter
        from airflow_provider_i2v.generation.wait import poll_until_terminal

        if self._reporter is None:
            self._reporter = ProgressReporter(self.generation_id, self.log)
        self.hook.get_settings()  # resolved once per task process, not once per poke's event loop
        result = asyncio.run(
            poll_until_terminal(
                self.hook,
                [self.generation_id],
                self.polling,
                started_at=None,
                deadline=time.time(),
                log=self.log,
                reporter=self._reporter,
                missing=self._missing,
            )
        )
        if self.generation_id in result.failures:
            raise result.failures[self.generation_id]
        self._last = result.running.get(self.generation_id, self._last)
        outcome = result.outcomes.get(self.generation_id)
        if outcome is not None:
            return PokeReturnValue(is_done=True, xcom_value=self._conclude(context, outcome))
        if self._deadline is not None and time.time() >= self._deadline:
            raise self._timeout_error(self.generation_id)
        return False

    def _get_next_poke_interval(
        self, started_at: datetime.datetime | float, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        """The triggers' schedule, in poke and reschedule mode alike."""
        if self.exponential_backoff:
            return float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        last = self._last
        now = time.time()
        elapsed = max(0.0, now - last.created_at) if last is not None and last.created_at else None
        progress = last.progress if last is not None else None
        remaining = None if self._deadline is None else self._deadline - now
        return self.polling.schedule().next_delay(elapsed, progress, remaining)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow_provider_i2v.generation.events import outcome_from_event

        return self._conclude(context, outcome_from_event(event, self._timeout_error))

    def _conclude(self, context: Context, outcome: Outcome) -> dict[str, Any]:
        from airflow_provider_i2v.generation.results import build_result, failure_error, publish

        if not outcome.completed:
            raise failure_error(outcome, watched=True)
        result = build_result(outcome, model=outcome.model or DEFAULT_MODEL)
        publish(context["ti"], result)
        self.log.info("Generation %s completed: %s", outcome.generation_id, ", ".join(result["video_urls"]))
        return result
