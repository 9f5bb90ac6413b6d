"""The operator: validate, submit one paid generation, wait (deferred by default), return the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import I2VError, I2VTimeoutError
from airflow_provider_i2v.links.i2v import I2VVideoLink
from airflow_provider_i2v.operators.base import GenerationOperator
from airflow_provider_i2v.operators.params import (
    RenderedImage,
    check_params,
    validated_request,
)
from airflow_provider_i2v.protocol import (
    GenerationState,
    GenerationStatus,
)
from airflow_provider_i2v.results import errors_published
from airflow_provider_i2v.resume import (
    Action,
    GenerationLedger,
    forget_after_success,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator


class ImageToVideoOperator(GenerationOperator):
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

    Every other parameter (the model's, the connection, polling, ``generation_timeout``,
    ``output_dir``, ``on_uncertain_create``) is
    :class:`~airflow_provider_i2v.operators.base.GenerationOperator`'s.
    """

    template_fields: Sequence[str] = ("first_frame_image", *GenerationOperator.template_fields)
    ui_color = "#e8dcff"
    operator_extra_links = (I2VVideoLink(),)

    def __init__(self, *, first_frame_image: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.first_frame_image = first_frame_image
        # Last: the stored id is forgotten only once Airflow has recorded the success.
        self.on_success_callback = [*self.on_success_callback, forget_after_success]
        #: The generation this try is waiting for (for on_kill's log line).
        self._generation_id: str | None = None
        #: This try's result, for lineage.
        self._result: dict[str, Any] | None = None

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: Any
    ) -> None:
        # Called for plain and for mapped tasks (MappedOperator renders through the unmapped
        # task's method), unlike render_template_fields.
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        image = getattr(parent, "first_frame_image", None)
        if parent is self and isinstance(image, str) and image.startswith("data:"):
            self.first_frame_image = RenderedImage(image)

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

    def _wait(self, context: Context, ledger: GenerationLedger) -> Any:
        entry = ledger.entry
        generation_id = str(entry.generation_id)
        self._generation_id = generation_id
        if self.deferrable:
            from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

            self.defer(
                trigger=I2VTaskTrigger(
                    generation_id=generation_id, started_at=entry.submitted_at, **self._trigger_kwargs()
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
