"""The sensor: wait for a generation submitted elsewhere (another DAG, a script, the vendor CLI)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_i2v.hooks.settings import DEFAULT_CONN_ID
from airflow_provider_i2v.links.i2v import I2VVideoLink
from airflow_provider_i2v.protocol import DEFAULT_MODEL, GenerationState, GenerationStatus
from airflow_provider_i2v.resume import GenerationLedger, forget_after_success

if TYPE_CHECKING:
    import datetime

    from airflow.sdk import Context

    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.progress import ProgressReporter
    from airflow_provider_i2v.schedule import PollSchedule


class I2VTaskSensor(BaseSensorOperator):
    """Wait until generation ``generation_id`` completes and return the operator's result dict.

    Deferrable by default (the wait happens on the triggerer); ``deferrable=False``
    pokes from the worker (``mode="poke"`` or ``"reschedule"``), with the same polling
    schedule as the trigger. It never submits anything: it costs nothing. A failed
    generation fails the sensor with the gateway's code and message. Its ``timeout``
    is one absolute deadline, kept in ``task_state_store`` from the first try, so a
    retry does not start the clock again.

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
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.adaptive_polling = bool(adaptive_polling)
        self.on_success_callback = [*self.on_success_callback, forget_after_success]
        self._reporter: ProgressReporter | None = None
        self._last: GenerationState | None = None
        self._deadline: float | None = None

    @cached_property
    def hook(self) -> I2VHook:
        """Resolved once per task process (poke mode pokes many times in one process)."""
        from airflow_provider_i2v.hooks.i2v import I2VHook

        return I2VHook(i2v_conn_id=self.i2v_conn_id)

    def _schedule(self) -> PollSchedule:
        from airflow_provider_i2v.schedule import PollSchedule

        return PollSchedule(self.poll_interval, self.max_poll_interval, adaptive=self.adaptive_polling)

    def _timeout_error(self, generation_id: str) -> AirflowSensorTimeout:
        # The same exception as poke mode's timeout: the task fails without burning retries.
        return AirflowSensorTimeout(
            f"[generation {generation_id}] still running after the sensor's timeout of {self.timeout:.0f}s"
        )

    def _start(self, context: Context) -> float:
        """Push the id like the operator does; the deadline of the first try, for every try."""
        ledger = GenerationLedger(context, self.log)
        ledger.push_id(self.generation_id)
        return ledger.deadline(float(self.timeout))

    def execute(self, context: Context) -> Any:
        self._deadline = self._start(context)
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

        self.defer(
            trigger=I2VTaskTrigger(
                generation_id=self.generation_id,
                i2v_conn_id=self.i2v_conn_id,
                poll_interval=self.poll_interval,
                max_poll_interval=self.max_poll_interval,
                adaptive=self.adaptive_polling,
                deadline=self._deadline,
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from airflow_provider_i2v.progress import ProgressReporter
        from airflow_provider_i2v.waiting import observe

        if self._reporter is None:
            self._reporter = ProgressReporter(self.generation_id, self.log)
        state = observe(self.hook, self.generation_id, self._reporter, self.log)
        if state is not None:
            self._last = state
            if state.status.is_terminal:
                return PokeReturnValue(is_done=True, xcom_value=self._conclude(context, state))
        if self._deadline is not None and time.time() >= self._deadline:
            raise self._timeout_error(self.generation_id)
        return False

    def _get_next_poke_interval(
        self, started_at: datetime.datetime | float, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        """The trigger's schedule, in poke and reschedule mode alike."""
        if self.exponential_backoff:
            return float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        last = self._last
        now = time.time()
        elapsed = max(0.0, now - last.created_at) if last is not None and last.created_at else None
        progress = last.progress if last is not None else None
        remaining = None if self._deadline is None else self._deadline - now
        return self._schedule().next_delay(elapsed, progress, remaining)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow_provider_i2v.events import state_from_event

        return self._conclude(context, state_from_event(event, self._timeout_error))

    def _conclude(self, context: Context, state: GenerationState) -> dict[str, Any]:
        from airflow_provider_i2v.results import build_result, failure_error, publish

        if state.status is not GenerationStatus.COMPLETED:
            raise failure_error(state, watched=True)
        result = build_result(state, model=state.model or DEFAULT_MODEL)
        publish(context, result)
        self.log.info("Generation %s completed: %s", state.generation_id, ", ".join(result["video_urls"]))
        return result
