"""What every generating operator shares: the model's parameters, the connection, how it
waits, and the pay-once options.

:class:`~airflow_provider_i2v.operators.i2v.ImageToVideoOperator` (one image) and
:class:`~airflow_provider_i2v.operators.batch.ImageToVideoBatchOperator` (a list, whose
items these parameters are the shared defaults of) both derive from it, so each
parameter, its default and its check are written once. Both send their creates through
:mod:`airflow_provider_i2v.generation.submit` and wait in
:mod:`airflow_provider_i2v.generation.wait`: the same rules for one video and for thousands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_i2v.exceptions import I2VInvalidRequestError
from airflow_provider_i2v.generation.request import REQUEST_PARAMS, check_params
from airflow_provider_i2v.generation.rules import UNCERTAIN_CREATE_POLICIES, UncertainCreatePolicy
from airflow_provider_i2v.generation.schedule import Polling
from airflow_provider_i2v.hooks.settings import DEFAULT_CONN_ID
from airflow_provider_i2v.protocol import DEFAULT_MODEL, MINIMAX_I2V_01_LIVE

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.generation.rules import Asked
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.hooks.settings import ConnectionSettings


class GenerationOperator(BaseOperator):
    """Base of the generating operators (not used directly in DAGs).

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
    :param generation_timeout: how long one try waits (a timedelta or seconds); on timeout
        the generation ids stay stored, so a retry reconnects and waits again instead of
        paying again. ``None`` waits forever.
    :param output_dir: copy every output file there (local path, URI such as
        ``s3://bucket/videos/{{ run_id }}``, or ``ObjectStoragePath``). Templated.
    :param on_uncertain_create: what happens after a create whose outcome is unknown (its
        answer was lost, a 5xx, the task was killed while it was on the wire): ``"resubmit"``
        (default) sends it again after a back-off, within the same try (at most a few times)
        and on later tries, each time saying so in the log and counting it in
        ``uncertain_creates``; ``"fail"`` stops, until a user acknowledges it (docs/retries.md).
    :param revision: part of what the request asks (templated). A retry or a clear reuses the
        paid generation of an unchanged request; set a new ``revision`` (for example
        ``"{{ dag_run.conf.get('i2v_revision', '') }}"``) to pay for a new video of the same
        image and parameters on purpose.
    :param check_image_url: check an ``http(s)`` image (format, size, dimensions) before
        paying, by reading its first bytes from the worker (default). ``False`` skips the
        check for a URL the worker cannot reach but the gateway can; the log says so.
    """

    template_fields: Sequence[str] = ("prompt", "callback_url", "output_dir", "revision")
    template_fields_renderers = {"prompt": "txt"}

    def __init__(
        self,
        *,
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
        revision: str | None = None,
        check_image_url: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt
        self.model = model
        self.duration = duration
        self.resolution = resolution
        self.prompt_optimizer = prompt_optimizer
        self.callback_url = callback_url
        self.aigc_watermark = aigc_watermark
        self.i2v_conn_id = i2v_conn_id
        self.deferrable = deferrable
        try:
            self.polling = Polling.of(poll_interval, max_poll_interval, adaptive_polling, model)
        except ValueError as exc:  # a bad interval is refused when the DAG is parsed
            raise I2VInvalidRequestError(str(exc)) from None
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
        self.revision = revision
        self.check_image_url = bool(check_image_url)
        # Fixed (non-templated) parameters are checked when the DAG is parsed, so a typo
        # shows up as an import error instead of a failed run.
        check_params(self._params(), rendered=False)

    def _params(self) -> dict[str, Any]:
        """The request parameters (for the batch: every item's defaults)."""
        return {name: getattr(self, name) for name in REQUEST_PARAMS}

    @cached_property
    def hook(self) -> I2VHook:
        from airflow_provider_i2v.hooks.i2v import I2VHook

        return I2VHook(i2v_conn_id=self.i2v_conn_id)

    def _settings(self) -> ConnectionSettings:
        """The connection, resolved and checked before anything is written or sent: a missing
        connection or a bad extra must not leave an intent behind (a false "may have been paid")."""
        return self.hook.get_settings()

    def _asked(self, settings: ConnectionSettings, digest: str = "", image: str = "") -> Asked:
        from airflow_provider_i2v.generation.rules import Asked

        return Asked(digest, settings.base_url, self.i2v_conn_id, self.model, image)

    def _revision(self) -> str | None:
        return None if self.revision in (None, "") else str(self.revision)

    def _acknowledged(self, context: Context) -> bool:
        """Whether a user acknowledged this task instance's uncertain creates (docs/retries.md)."""
        from airflow_provider_i2v.generation.record import ACKNOWLEDGE_KEY, read_key

        return read_key(context.get("task_state_store"), ACKNOWLEDGE_KEY) not in (None, False, "")

    def _acknowledgement_used(self, context: Context) -> None:
        """An acknowledgement covers the creates it was given for, not later ones."""
        from airflow_provider_i2v.generation.record import ACKNOWLEDGE_KEY, write_with_retries

        write_with_retries(context.get("task_state_store"), ACKNOWLEDGE_KEY, None, paid=None)

    def _trigger_kwargs(self) -> dict[str, Any]:
        """What a trigger needs to poll like this operator: the connection, polling and deadline."""
        return {"i2v_conn_id": self.i2v_conn_id, **self.polling.to_kwargs(), "deadline": self._deadline()}

    def _deadline(self) -> float | None:
        """When this try stops waiting: ``generation_timeout`` from now.

        Counted per try, so a retry after a timeout reconnects and waits again instead of
        failing at its first poll; it is absolute in the trigger's kwargs, so a triggerer
        restart does not extend it.
        """
        import time

        return None if self.generation_timeout is None else time.time() + self.generation_timeout
