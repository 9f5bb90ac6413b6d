"""The operator: validate, submit one paid generation, wait (deferred by default), return the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import I2VError, I2VTimeoutError
from airflow_provider_i2v.generation.request import RenderedImage, check_params, unwrap_image
from airflow_provider_i2v.generation.results import errors_published
from airflow_provider_i2v.links.i2v import I2VVideoLink
from airflow_provider_i2v.operators.base import GenerationOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.generation.outcome import Outcome
    from airflow_provider_i2v.generation.record import Slot
    from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator


class ImageToVideoOperator(GenerationOperator):
    """Generate one video from one image on the Vtrix gateway.

    Validates every parameter (and the image, read from wherever it lives) before
    anything is sent, submits one generation, stores its ``generation_id`` (and pushes
    it to XCom) at once, then waits: on the triggerer by default (``deferrable=True``:
    no worker slot is held while the video renders) or by polling in the worker.
    Returns ``{"generation_id", "model", "status", "video_urls", "usage", "metadata",
    "uncertain_creates"}`` (plus ``"video_files"`` with ``output_dir``).

    Retries and clears never pay twice for the same request: the generation id is kept in
    the task instance's ``task_state_store`` from the moment it is accepted, with a digest of
    the request; a later try (or a clear of the run) reconnects to a running generation,
    reuses a completed one, and submits anew only after a failure, or when the request (or
    ``revision``) changed (see :mod:`airflow_provider_i2v.generation.rules` and docs/retries.md).

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

    # -- execution -------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        with errors_published(context["ti"]):
            return self._execute(context)

    def _execute(self, context: Context) -> Any:
        import asyncio

        from airflow_provider_i2v.generation.record import KeySlot
        from airflow_provider_i2v.generation.request import prepare
        from airflow_provider_i2v.generation.rules import Next
        from airflow_provider_i2v.generation.submit import Slotted, plan, submit

        check_params(self._params(), rendered=True)  # nothing is written or sent before this holds
        settings = self._settings()
        prepared = prepare(
            self._params(),
            self.first_frame_image,
            self.log,
            revision=self._revision(),
            check_url=self.check_image_url,
            settings=settings,
        )
        slot = KeySlot(context.get("task_state_store"))
        slotted = Slotted(
            0, "", slot, self._asked(settings, prepared.digest, prepared.image), lambda: prepared
        )
        acknowledged = self._acknowledged(context)
        policy = self.on_uncertain_create
        decision = asyncio.run(
            plan(self.hook, [slotted], policy=policy, acknowledged=acknowledged, log=self.log)
        )[0]
        if decision.next is Next.SUBMIT:
            if acknowledged:  # used up before anything is sent: it covers the creates it was given for
                self._acknowledgement_used(context)
            created = asyncio.run(
                submit(
                    self.hook,
                    [slotted],
                    policy=policy,
                    max_in_flight=1,
                    backoff=(settings.backoff_initial, settings.backoff_max),
                    log=self.log,
                    announce=lambda _, entry: self._push_id(context, str(entry.generation_id)),
                )
            )[0]
            if created.error is not None:
                raise created.error
        else:
            self._push_id(context, str(slot.read().generation_id))
        if decision.next is Next.REUSE and decision.outcome is not None:
            return self._finish(context, slot, decision.outcome)
        return self._wait(context, slot)

    def _push_id(self, context: Context, generation_id: str) -> None:
        from airflow_provider_i2v.generation.keys import XCOM_GENERATION_ID

        context["ti"].xcom_push(key=XCOM_GENERATION_ID, value=generation_id)

    def _wait(self, context: Context, slot: Slot) -> Any:
        import asyncio

        from airflow_provider_i2v.generation.events import outcome_from_event, single_event
        from airflow_provider_i2v.generation.wait import poll_until_terminal

        entry = slot.read()
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
        waited = poll_until_terminal(
            self.hook,
            [generation_id],
            self.polling,
            started_at=entry.submitted_at,
            deadline=self._deadline(),
            log=self.log,
        )
        outcome = outcome_from_event(single_event(generation_id, asyncio.run(waited)), self._timeout_error)
        return self._conclude(context, slot, outcome)

    def _timeout_error(self, generation_id: str) -> I2VTimeoutError:
        return I2VTimeoutError(
            f"still running after generation_timeout={self.generation_timeout:.0f}s; the id stays stored, "
            "so a retry (or a clear) reconnects to it instead of paying again",
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
        from airflow_provider_i2v.generation.events import outcome_from_event
        from airflow_provider_i2v.generation.record import KeySlot

        with errors_published(context["ti"]):
            slot = KeySlot(context.get("task_state_store"))
            return self._conclude(context, slot, outcome_from_event(event, self._timeout_error))

    def _conclude(self, context: Context, slot: Slot, outcome: Outcome) -> Any:
        from airflow_provider_i2v.generation.results import failure_error
        from airflow_provider_i2v.generation.rules import record_outcome

        if outcome.completed:
            return self._finish(context, slot, outcome)
        error = failure_error(outcome)
        _best_effort(lambda: record_outcome(slot, outcome), self.log)
        self.log.error("%s", error)
        raise error

    def _finish(self, context: Context, slot: Slot, outcome: Outcome) -> dict[str, Any]:
        """Keep the outputs, record the delivery, then publish the result."""
        import time
        from dataclasses import replace

        from airflow_provider_i2v.assets import emit_asset_events
        from airflow_provider_i2v.generation.results import build_result, publish
        from airflow_provider_i2v.generation.rules import record_outcome

        entry = slot.read()
        files = None
        if self.output_dir:
            from airflow_provider_i2v.outputs import keep

            files = keep(
                list(outcome.output_urls),
                self.output_dir,
                outcome.generation_id,
                self.hook.get_settings(),
                known=entry.files,
                remember=lambda records: _best_effort(
                    lambda: slot.write(replace(slot.read(), files=tuple(records)), paid=None), self.log
                ),
            )
        _best_effort(lambda: record_outcome(slot, outcome, files=files), self.log)
        if not outcome.video_urls:
            self.log.warning("Generation %s completed without any video URL", outcome.generation_id)
        result = build_result(
            outcome, model=self.model, files=files, uncertain_creates=entry.uncertain_creates
        )
        publish(context["ti"], result)
        emit_asset_events(list(self.outlets), context, result)
        elapsed = f" in {time.time() - entry.submitted_at:.0f} s" if entry.submitted_at else ""
        self.log.info(
            "Generation %s completed%s: %s; cost %s USD",
            outcome.generation_id,
            elapsed,
            ", ".join(result["video_urls"]) or "no video URL",
            outcome.usage.get("cost", "unknown"),
        )
        self._result = result
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the first frame as input, the stored videos as outputs, a run facet
        with the generation id, model and cost (called by the OpenLineage provider)."""
        from airflow_provider_i2v.lineage import operator_lineage

        return operator_lineage(unwrap_image(self.first_frame_image), self._result)


def __getattr__(name: str) -> Any:
    # The batch operator is public as airflow_provider_i2v.operators.i2v.ImageToVideoBatchOperator; it
    # lives in its own module and is imported only by DAGs that use it.
    if name == "ImageToVideoBatchOperator":
        from airflow_provider_i2v.operators.batch import ImageToVideoBatchOperator

        return ImageToVideoBatchOperator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["I2VError", "ImageToVideoBatchOperator", "ImageToVideoOperator"]


def _best_effort(write: Any, log: Any) -> None:
    """A record write the result does not depend on: a failure is said, not raised."""
    from airflow_provider_i2v.exceptions import I2VStateStoreError

    try:
        write()
    except I2VStateStoreError as exc:
        log.warning("Could not record the generation's outcome in task_state_store (%s)", exc)
