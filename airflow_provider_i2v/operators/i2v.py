"""The operator: validate, submit one paid generation, wait (deferred by default), return the result."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_i2v.exceptions import (
    I2VCreationUncertainError,
    I2VError,
    I2VGenerationNotFoundError,
    I2VInvalidRequestError,
    I2VTimeoutError,
    I2VTransientError,
)
from airflow_provider_i2v.links.i2v import I2VVideoLink
from airflow_provider_i2v.protocol import (
    DEFAULT_MODEL,
    MINIMAX_I2V_01_LIVE,
    MODELS,
    GenerationRequest,
    GenerationState,
    GenerationStatus,
    describe_image_reference,
    parameter_problems,
)
from airflow_provider_i2v.results import (
    XCOM_GENERATION_ID,
    build_result,
    failure_error,
    publish,
    state_from_event,
)
from airflow_provider_i2v.resume import (
    StoredGeneration,
    forget_generation,
    mark_create_pending,
    recall_generation,
    recall_pending_create,
    remember_generation,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.hooks.i2v import I2VHook

#: Placeholder image used to check the non-image parameters before the image is read.
_URL_PLACEHOLDER = "https://placeholder.invalid/image.png"


class RenderedImage:
    """A rendered ``first_frame_image`` that shows a summary, not megabytes of base64.

    Airflow stores every rendered template field for the UI's "Rendered Template"
    view; it serialises non-string values through their ``serialize()``. Wrapping a
    data URL after rendering keeps its bytes out of the metadata database and the UI.
    """

    def __init__(self, value: str) -> None:
        self.value = value

    def serialize(self) -> str:
        return describe_image_reference(self.value)

    def __repr__(self) -> str:
        return f"RenderedImage({self.serialize()!r})"


class ImageToVideoOperator(BaseOperator):
    """Generate one video from one image on the Vtrix gateway.

    Validates every parameter (and the image, read from wherever it lives) before
    anything is sent, submits one generation, pushes its ``generation_id`` to XCom at
    once, then waits: on the triggerer by default (``deferrable=True``: no worker
    slot is held while the video renders) or by polling in the worker. Returns
    ``{"generation_id", "model", "status", "video_urls", "usage", "metadata"}``
    (plus ``"video_files"`` with ``output_dir``).

    Retries never pay twice: the generation id is kept in the task instance's
    ``task_state_store`` from the moment it is accepted; a later try reconnects to a
    running generation, reuses a completed one, and submits anew only after a
    failure.

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
    :param poll_interval: seconds between status polls.
    :param generation_timeout: how long one try waits for the generation (a timedelta
        or seconds); on timeout the generation id stays stored, so a retry reconnects
        and waits again instead of paying again. ``None`` waits forever.
    :param output_dir: copy every output file there (local path, URI such as
        ``s3://bucket/videos/{{ run_id }}``, or ``ObjectStoragePath``). Templated.
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
        prompt_optimizer: bool = True,
        callback_url: str | None = None,
        aigc_watermark: bool = False,
        i2v_conn_id: str = "i2v_default",
        deferrable: bool = True,
        poll_interval: float = 10.0,
        generation_timeout: timedelta | float | None = timedelta(hours=1),
        output_dir: Any = None,
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
        if poll_interval <= 0:
            raise ValueError(f"poll_interval: must be > 0 seconds, got {poll_interval!r}")
        self.poll_interval = float(poll_interval)
        if isinstance(generation_timeout, timedelta):
            generation_timeout = generation_timeout.total_seconds()
        self.generation_timeout = None if generation_timeout is None else float(generation_timeout)
        self.output_dir = output_dir
        #: The generation this try is waiting for (for on_kill's log line).
        self._generation_id: str | None = None
        # Fixed (non-templated) parameters are checked when the DAG is parsed, so a typo
        # shows up as an import error instead of a failed run.
        if problems := self._parameter_problems(templated=False):
            raise I2VInvalidRequestError("; ".join(problems))

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: Any
    ) -> None:
        # Called for plain and for mapped tasks (MappedOperator renders through the unmapped
        # task's method), unlike render_template_fields.
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)
        image = getattr(parent, "first_frame_image", None)
        if parent is self and isinstance(image, str) and image.startswith("data:"):
            self.first_frame_image = RenderedImage(image)

    # -- validation ------------------------------------------------------------------------

    def _request(self, image: str, *, rendered: bool = True) -> GenerationRequest:
        """The request; before rendering, templated fields (maybe Jinja or an XComArg) are left out."""
        return GenerationRequest(
            first_frame_image=image,
            model=self.model,
            prompt=(self.prompt or None) if rendered else None,
            duration=self.duration,
            resolution=self.resolution,
            prompt_optimizer=bool(self.prompt_optimizer),
            callback_url=(self.callback_url or None) if rendered else None,
            aigc_watermark=bool(self.aigc_watermark),
        )

    def _parameter_problems(self, *, templated: bool) -> list[str]:
        for name, kind in (("duration", int), ("prompt_optimizer", bool), ("aigc_watermark", bool)):
            value = getattr(self, name)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                return [f"{name}: must be {kind.__name__}, got {value!r}"]
        if templated:
            for name in ("prompt", "callback_url"):
                value = getattr(self, name)
                if value is not None and not isinstance(value, str):
                    return [f"{name}: must be a string, got {type(value).__name__}"]
        return parameter_problems(self._request(_URL_PLACEHOLDER, rendered=templated))

    def _validated_request(self) -> GenerationRequest:
        """Check everything, read the image if needed; raise before any request is sent."""
        from airflow_provider_i2v.images import prepare_first_frame_image

        if problems := self._parameter_problems(templated=True):
            raise I2VInvalidRequestError("; ".join(problems))
        source = self.first_frame_image
        if isinstance(source, RenderedImage):
            source = source.value
        image = prepare_first_frame_image(source, MODELS[self.model])
        self.log.info("First frame: %s", image.describe())
        return dataclasses.replace(self._request(image.url), first_frame_image=image.url)

    # -- execution -------------------------------------------------------------------------

    @cached_property
    def hook(self) -> I2VHook:
        from airflow_provider_i2v.hooks.i2v import I2VHook

        return I2VHook(i2v_conn_id=self.i2v_conn_id)

    def execute(self, context: Context) -> Any:
        # Nothing is sent before every parameter is known to be acceptable.
        if problems := self._parameter_problems(templated=True):
            raise I2VInvalidRequestError("; ".join(problems))
        hook = self.hook
        stored = recall_generation(context)
        if stored is not None:
            reused = self._resume(context, hook, stored)
            if reused is not None:
                return reused
        request = self._validated_request()
        state = self._submit(context, hook, request)
        stored = StoredGeneration(state.generation_id, submitted_at=time.time())
        # Said first: should anything below fail, the log still names what was paid for.
        self.log.info(
            "Submitted generation %s (model %s, %s, %ss); it is paid for from here on",
            state.generation_id,
            request.model,
            request.resolution,
            request.duration,
        )
        context["ti"].xcom_push(key=XCOM_GENERATION_ID, value=state.generation_id)
        remember_generation(context, stored)
        return self._wait(context, hook, stored)

    def _submit(self, context: Context, hook: I2VHook, request: GenerationRequest) -> GenerationState:
        """Send the paid create, leaving a marker while its outcome is unknown."""
        if (since := recall_pending_create(context)) is not None:
            self.log.warning(
                "An earlier try of this task sent a create at %s whose answer was lost: a generation "
                "may exist and may have been paid for. The gateway cannot look it up, so a new one "
                "is submitted now. To fail instead, give the task retry_policy=ExceptionRetryPolicy("
                "rules=[RetryRule(exception=I2VCreationUncertainError, action=RetryAction.FAIL)]).",
                time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since)),
            )
        mark_create_pending(context)
        try:
            return hook.create_generation(request)
        except I2VCreationUncertainError:
            raise  # the marker stays: the next try says so plainly
        except BaseException:
            forget_generation(context)  # the outcome is known: nothing was created
            raise

    def _resume(self, context: Context, hook: I2VHook, stored: StoredGeneration) -> Any:
        """Reconnect to or reuse the generation of an earlier try; ``None`` means submit anew."""
        try:
            state = hook.get_generation(stored.generation_id)
        except I2VGenerationNotFoundError:
            self.log.warning(
                "Generation %s of an earlier try is unknown to the gateway (expired?); submitting a new one",
                stored.generation_id,
            )
            return None
        context["ti"].xcom_push(key=XCOM_GENERATION_ID, value=stored.generation_id)
        if state.status is GenerationStatus.RUNNING:
            self.log.info(
                "Reconnecting to generation %s of an earlier try (status %s); not submitting again",
                stored.generation_id,
                state.raw_status,
            )
            return self._wait(context, hook, stored)
        if state.status is GenerationStatus.COMPLETED:
            self.log.info(
                "Generation %s of an earlier try completed; reusing its result", stored.generation_id
            )
            return self._finish(context, state)
        error = state.error
        self.log.warning(
            "Generation %s of an earlier try failed (code %s: %s); submitting a new one",
            stored.generation_id,
            error.code if error else None,
            error.message if error else "no message",
        )
        return None

    def _deadline(self) -> float | None:
        """When this try stops waiting: ``generation_timeout`` from now.

        Counted per try, so a retry after a timeout reconnects and waits again instead of
        failing at its first poll; it is absolute in the trigger's kwargs, so a triggerer
        restart does not extend it.
        """
        if self.generation_timeout is None:
            return None
        return time.time() + self.generation_timeout

    def _wait(self, context: Context, hook: I2VHook, stored: StoredGeneration) -> Any:
        self._generation_id = stored.generation_id
        if self.deferrable:
            from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

            self.defer(
                trigger=I2VTaskTrigger(
                    generation_id=stored.generation_id,
                    i2v_conn_id=self.i2v_conn_id,
                    poll_interval=self.poll_interval,
                    deadline=self._deadline(),
                    started_at=stored.submitted_at,
                ),
                method_name="execute_complete",
            )
        return self._poll_in_worker(context, hook, stored)

    def _poll_in_worker(self, context: Context, hook: I2VHook, stored: StoredGeneration) -> Any:
        from airflow_provider_i2v.progress import ProgressReporter

        reporter = ProgressReporter(stored.generation_id, self.log, stored.submitted_at)
        deadline = self._deadline()
        while True:
            try:
                state = hook.get_generation(stored.generation_id)
            except I2VTransientError as exc:
                self.log.warning(
                    "Generation %s: status unavailable (%s); will poll again", stored.generation_id, exc
                )
            else:
                reporter.observe(state)
                if state.status.is_terminal:
                    return self._conclude(context, state)
            if deadline is not None and time.time() >= deadline:
                raise self._timeout_error(stored.generation_id)
            pause = (
                self.poll_interval if deadline is None else min(self.poll_interval, deadline - time.time())
            )
            time.sleep(max(0.0, pause))

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
        return self._conclude(context, state_from_event(event, self._timeout_error))

    def _conclude(self, context: Context, state: GenerationState) -> Any:
        if state.status is GenerationStatus.COMPLETED:
            return self._finish(context, state)
        error = failure_error(state)
        self.log.error("%s", error)
        raise error

    def _finish(self, context: Context, state: GenerationState) -> dict[str, Any]:
        video_files = None
        if state.status is GenerationStatus.COMPLETED and not state.video_urls:
            self.log.warning("Generation %s completed without any video URL", state.generation_id)
        if self.output_dir:
            from airflow_provider_i2v.outputs import copy_outputs

            video_files = copy_outputs(
                state.output_urls, self.output_dir, state.generation_id, self.hook.get_settings()
            )
        result = build_result(state, model=self.model, video_files=video_files)
        publish(context, result)
        stored = recall_generation(context)
        forget_generation(context)
        elapsed = ""
        if stored is not None and stored.submitted_at:
            elapsed = f" in {time.time() - stored.submitted_at:.0f} s"
        self.log.info(
            "Generation %s completed%s: %s; cost %s USD",
            state.generation_id,
            elapsed,
            ", ".join(result["video_urls"]) or "no video URL",
            state.usage.get("cost", "unknown"),
        )
        return result


__all__ = ["I2VError", "ImageToVideoOperator"]
