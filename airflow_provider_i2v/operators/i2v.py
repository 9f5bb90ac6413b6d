"""The operator: validate, submit one paid generation, wait (deferred by default), return the result."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_i2v.exceptions import I2VError, I2VInvalidRequestError, I2VTimeoutError
from airflow_provider_i2v.hooks.settings import DEFAULT_CONN_ID
from airflow_provider_i2v.links.i2v import I2VVideoLink
from airflow_provider_i2v.operators.params import (
    REQUEST_PARAMS,
    RenderedImage,
    check_params,
    validated_request,
)
from airflow_provider_i2v.protocol import (
    DEFAULT_MODEL,
    MINIMAX_I2V_01_LIVE,
    GenerationState,
    GenerationStatus,
)
from airflow_provider_i2v.results import errors_published
from airflow_provider_i2v.resume import (
    UNCERTAIN_CREATE_POLICIES,
    Action,
    GenerationLedger,
    UncertainCreatePolicy,
    forget_after_success,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator
    from airflow_provider_i2v.schedule import PollSchedule


class ImageToVideoOperator(BaseOperator):
    """Generate one video from one image on the Vtrix gateway.

    Validates every parameter (and the image, read from wherever it lives) before
    anything is sent, submits one generation, stores its ``generation_id`` (and pushes
    it to XCom) at once, then waits: on the triggerer by default (``deferrable=True``:
    no worker slot is held while the video renders) or by polling in the worker.
    Returns ``{"generation_id", "model", "status", "video_urls", "usage", "metadata",
    "uncertain_creates"}`` (plus ``"video_files"`` with ``output_dir``).

    Retries never pay twice: the generation id is kept in the task instance's
    ``task_state_store`` from the moment it is accepted; a later try reconnects to a
    running generation, reuses a completed one, and submits anew only after a failure
    (see :mod:`airflow_provider_i2v.resume` and docs/retries.md).

    :param first_frame_image: the first frame: an ``http(s)`` URL (passed through), a
        ``data:image/...;base64,`` URL, a local file path, an object-storage URI or an
        ``ObjectStoragePath`` (read, checked and sent as a data URL). Templated.
    :param prompt: what should happen in the video, at most 2000 characters. Templated.
    :param model: the gateway model id.
    :param duration: seconds of video; the model allows only 6.
    :param resolution: the model allows only ``"720P"``.
    :param prompt_optimizer: let the gateway rewrite the prompt.
    :param callback_url: an ``http(s)`` URL the gateway notifies (passed through;
        polling stays the source of truth). Templated.
    :param aigc_watermark: add the AI-generated watermark.
    :param i2v_conn_id: the ``i2v`` connection.
    :param deferrable: wait on the triggerer (default) instead of in the worker.
    :param poll_interval: seconds between status polls once completion is plausible: a
        finished video is noticed within this long.
    :param max_poll_interval: the longest pause between two polls while the render is far
        from done (adaptive polling); at least ``poll_interval``.
    :param adaptive_polling: follow the render (the gateway's progress, recent render
        times) instead of polling every ``poll_interval`` from the start.
    :param generation_timeout: how long one try waits for the generation (a timedelta
        or seconds); on timeout the generation id stays stored, so a retry reconnects
        and waits again instead of paying again. ``None`` waits forever.
    :param output_dir: copy every output file there (local path, URI such as
        ``s3://bucket/videos/{{ run_id }}``, or ``ObjectStoragePath``). Templated.
    :param on_uncertain_create: what a later try does after a create whose outcome is
        unknown (its answer was lost, a 5xx, the task was killed while it was on the
        wire): ``"resubmit"`` (default) pays again, saying so in the log and counting it
        in ``uncertain_creates``; ``"fail"`` fails without retry until someone checks.
    """

    template_fields: Sequence[str] = ("first_frame_image", "prompt", "callback_url", "output_dir")
    template_fields_renderers = {"prompt": "txt"}
    ui_color = "#e8dcff"
    operator_extra_links = (I2VVideoLink(),)

    def __init__(
        self,
        *,
        first_frame_image: Any,
        prompt: str | None = None,
        model: str = DEFAULT_MODEL,
        duration: int = MINIMAX_I2V_01_LIVE.default_duration,
        resolution: str = MINIMAX_I2V_01_LIVE.default_resolution,
        prompt_optimizer: bool = MINIMAX_I2V_01_LIVE.default_prompt_optimizer,
        callback_url: str | None = None,
        aigc_watermark: bool = MINIMAX_I2V_01_LIVE.default_aigc_watermark,
        i2v_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = True,
        poll_interval: float = 10.0,
        max_poll_interval: float = 60.0,
        adaptive_polling: bool = True,
        generation_timeout: timedelta | float | None = timedelta(hours=1),
        output_dir: Any = None,
        on_uncertain_create: UncertainCreatePolicy = "resubmit",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.first_frame_image = first_frame_image
        self.prompt = prompt
        self.model = model
        self.duration = duration
        self.resolution = resolution
        self.prompt_optimizer = prompt_optimizer
        self.callback_url = callback_url
        self.aigc_watermark = aigc_watermark
        self.i2v_conn_id = i2v_conn_id
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = max(float(max_poll_interval), self.poll_interval)
        self.adaptive_polling = bool(adaptive_polling)
        self._schedule()  # a bad interval is refused when the DAG is parsed
        if isinstance(generation_timeout, timedelta):
            generation_timeout = generation_timeout.total_seconds()
        self.generation_timeout = None if generation_timeout is None else float(generation_timeout)
        self.output_dir = output_dir
        if on_uncertain_create not in UNCERTAIN_CREATE_POLICIES:
            raise I2VInvalidRequestError(
                f"on_uncertain_create: must be one of {list(UNCERTAIN_CREATE_POLICIES)}, "
                f"got {on_uncertain_create!r}"
            )
        self.on_uncertain_create: UncertainCreatePolicy = on_uncertain_create
        # Last: the stored id is forgotten only once Airflow has recorded the success.
        self.on_success_callback = [*self.on_success_callback, forget_after_success]
        #: The generation this try is waiting for (for on_kill's log line).
        self._generation_id: str | None = None
        #: This try's result, for lineage.
        self._result: dict[str, Any] | None = None
        # Fixed (non-templated) parameters are checked when the DAG is parsed, so a typo
        # shows up as an import error instead of a failed run.
        check_params(self._params(), rendered=False)

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: Any
    ) -> None:
        # Called for plain and for mapped tasks (MappedOperator renders through the unmapped
        # task's method), unlike render_template_fields.
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        image = getattr(parent, "first_frame_image", None)
        if parent is self and isinstance(image, str) and image.startswith("data:"):
            self.first_frame_image = RenderedImage(image)

    def _params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REQUEST_PARAMS}

    @cached_property
    def hook(self) -> I2VHook:
        from airflow_provider_i2v.hooks.i2v import I2VHook

        return I2VHook(i2v_conn_id=self.i2v_conn_id)

    def _schedule(self) -> PollSchedule:
        from airflow_provider_i2v.schedule import PollSchedule

        return PollSchedule(
            self.poll_interval, self.max_poll_interval, adaptive=self.adaptive_polling, model=self.model
        )

    def _ledger(self, context: Context) -> GenerationLedger:
        return GenerationLedger(context, self.log, on_uncertain_create=self.on_uncertain_create)

    # -- execution -------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        with errors_published(context):
            return self._execute(context)

    def _execute(self, context: Context) -> Any:
        check_params(self._params(), rendered=True)  # nothing is sent before this holds
        ledger = self._ledger(context)
        recalled = ledger.recall(self.hook)
        if recalled.action is Action.REUSE and recalled.state is not None:
            return self._finish(context, ledger, recalled.state)
        if recalled.action is Action.SUBMIT:
            request = validated_request(self._params(), self.first_frame_image, self.log)
            what = f"model {request.model}, {request.resolution}, {request.duration}s"
            with ledger.submitting(what) as submission:
                submission.accepted(self.hook.create_generation(request))
        return self._wait(context, ledger)

    def _deadline(self) -> float | None:
        """When this try stops waiting: ``generation_timeout`` from now.

        Counted per try, so a retry after a timeout reconnects and waits again instead of
        failing at its first poll; it is absolute in the trigger's kwargs, so a triggerer
        restart does not extend it.
        """
        return None if self.generation_timeout is None else time.time() + self.generation_timeout

    def _wait(self, context: Context, ledger: GenerationLedger) -> Any:
        entry = ledger.entry
        generation_id = str(entry.generation_id)
        self._generation_id = generation_id
        if self.deferrable:
            from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

            self.defer(
                trigger=I2VTaskTrigger(
                    generation_id=generation_id,
                    i2v_conn_id=self.i2v_conn_id,
                    poll_interval=self.poll_interval,
                    max_poll_interval=self.max_poll_interval,
                    adaptive=self.adaptive_polling,
                    model=self.model,
                    deadline=self._deadline(),
                    started_at=entry.submitted_at,
                ),
                method_name="execute_complete",
            )
        from airflow_provider_i2v.progress import ProgressReporter
        from airflow_provider_i2v.waiting import wait_in_worker

        state = wait_in_worker(
            self.hook,
            generation_id,
            schedule=self._schedule(),
            reporter=ProgressReporter(generation_id, self.log, entry.submitted_at),
            submitted_at=entry.submitted_at,
            deadline=self._deadline(),
            log=self.log,
        )
        if state is None:
            raise self._timeout_error(generation_id)
        return self._conclude(context, ledger, state)

    def _timeout_error(self, generation_id: str) -> I2VTimeoutError:
        return I2VTimeoutError(
            f"still running after generation_timeout={self.generation_timeout:.0f}s; the id stays stored, "
            "so a retry reconnects to it instead of paying again",
            generation_id=generation_id,
        )

    def on_kill(self) -> None:
        """Runs on a user's kill and when ``execution_timeout`` interrupts the blocking wait."""
        if self._generation_id:
            self.log.warning(
                "Task stopped while generation %s was running. The gateway has no cancel endpoint: it "
                "keeps running and may be billed. Its id stays stored, so a retry of this task "
                "instance reconnects to it instead of paying again.",
                self._generation_id,
            )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: turn its event into the result or a typed error."""
        from airflow_provider_i2v.events import state_from_event

        with errors_published(context):
            state = state_from_event(event, self._timeout_error)
            return self._conclude(context, self._ledger(context), state)

    def _conclude(self, context: Context, ledger: GenerationLedger, state: GenerationState) -> Any:
        if state.status is GenerationStatus.COMPLETED:
            return self._finish(context, ledger, state)
        from airflow_provider_i2v.results import failure_error

        error = failure_error(state)
        self.log.error("%s", error)
        raise error

    def _finish(self, context: Context, ledger: GenerationLedger, state: GenerationState) -> dict[str, Any]:
        """Keep the outputs, then publish; the stored id stays until the success is recorded."""
        from airflow_provider_i2v.results import complete

        files = None
        if self.output_dir:
            from airflow_provider_i2v.outputs import keep

            files = keep(
                state.output_urls,
                self.output_dir,
                state.generation_id,
                self.hook.get_settings(),
                known=ledger.entry.files,
                remember=ledger.record_files,
            )
        self._result = complete(self, context, state, ledger.entry, files)
        return self._result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the first frame as input, the stored videos as outputs, a run facet
        with the generation id, model and cost (called by the OpenLineage provider)."""
        from airflow_provider_i2v.lineage import operator_lineage
        from airflow_provider_i2v.operators.params import unwrap_image

        return operator_lineage(unwrap_image(self.first_frame_image), self._result)


def __getattr__(name: str) -> Any:
    # The batch operator's public name is airflow_provider_i2v.operators.i2v (SPEC.md); it
    # lives in its own module and is imported only by DAGs that use it.
    if name == "ImageToVideoBatchOperator":
        from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator

        return ImageToVideoBatchOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["I2VError", "ImageToVideoBatchOperator", "ImageToVideoOperator"]
