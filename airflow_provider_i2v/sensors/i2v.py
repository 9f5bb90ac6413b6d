"""The sensor: wait for a generation submitted elsewhere (another DAG, a script, the vendor CLI)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_provider_i2v.exceptions import I2VTransientError
from airflow_provider_i2v.links.i2v import I2VVideoLink
from airflow_provider_i2v.progress import ProgressReporter
from airflow_provider_i2v.protocol import DEFAULT_MODEL, GenerationState, GenerationStatus
from airflow_provider_i2v.results import build_result, failure_error, publish, state_from_event

if TYPE_CHECKING:
    from airflow.sdk import Context


class I2VTaskSensor(BaseSensorOperator):
    """Wait until generation ``generation_id`` completes and return the operator's result dict.

    Deferrable by default (the wait happens on the triggerer); ``deferrable=False``
    pokes from the worker (``mode="poke"`` or ``"reschedule"``). It never submits
    anything: it costs nothing. A failed generation fails the sensor with the
    gateway's code and message.

    :param generation_id: the generation to wait for. Templated.
    :param i2v_conn_id: the ``i2v`` connection.
    :param deferrable: wait on the triggerer (default).
    :param poll_interval: seconds between status polls (also the poke interval).
    """

    template_fields: Sequence[str] = ("generation_id",)
    ui_color = "#efe6ff"
    operator_extra_links = (I2VVideoLink(),)

    def __init__(
        self,
        *,
        generation_id: str,
        i2v_conn_id: str = "i2v_default",
        deferrable: bool = True,
        poll_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.generation_id = generation_id
        self.i2v_conn_id = i2v_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self._reporter: ProgressReporter | None = None

    def _timeout_error(self, generation_id: str) -> AirflowSensorTimeout:
        # The same exception as poke mode's timeout: the task fails without burning retries.
        return AirflowSensorTimeout(
            f"[generation {generation_id}] still running after the sensor's timeout of {self.timeout:.0f}s"
        )

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

        self.defer(
            trigger=I2VTaskTrigger(
                generation_id=self.generation_id,
                i2v_conn_id=self.i2v_conn_id,
                poll_interval=self.poll_interval,
                deadline=time.time() + float(self.timeout),
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from airflow_provider_i2v.hooks.i2v import I2VHook

        if self._reporter is None:
            self._reporter = ProgressReporter(self.generation_id, self.log)
        try:
            state = I2VHook(i2v_conn_id=self.i2v_conn_id).get_generation(self.generation_id)
        except I2VTransientError as exc:
            self.log.warning("Generation %s: status unavailable (%s)", self.generation_id, exc)
            return False
        self._reporter.observe(state)
        if not state.status.is_terminal:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._conclude(context, state))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        return self._conclude(context, state_from_event(event, self._timeout_error))

    def _conclude(self, context: Context, state: GenerationState) -> dict[str, Any]:
        if state.status is not GenerationStatus.COMPLETED:
            raise failure_error(state, watched=True)
        result = build_result(state, model=state.model or DEFAULT_MODEL)
        publish(context, result)
        self.log.info("Generation %s completed: %s", state.generation_id, ", ".join(result["video_urls"]))
        return result
