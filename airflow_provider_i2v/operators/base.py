"""What every generating operator shares: the model's parameters, the connection, how it
waits, and what it does after an uncertain create.

:class:`~airflow_provider_i2v.operators.i2v.ImageToVideoOperator` (one image) and
:class:`~airflow_provider_i2v.operators.batch.ImageToVideoBatchOperator` (a list, whose
items these parameters are the shared defaults of) both derive from it, so each
parameter, its default and its check are written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_i2v.exceptions import I2VInvalidRequestError
from airflow_provider_i2v.hooks.settings import DEFAULT_CONN_ID
from airflow_provider_i2v.operators.params import REQUEST_PARAMS, check_params
from airflow_provider_i2v.protocol import DEFAULT_MODEL, MINIMAX_I2V_01_LIVE
from airflow_provider_i2v.resume import UNCERTAIN_CREATE_POLICIES, UncertainCreatePolicy

if TYPE_CHECKING:
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.schedule import PollSchedule


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
    :param on_uncertain_create: what a later try does after a create whose outcome is
        unknown (its answer was lost, a 5xx, the task was killed while it was on the
        wire): ``"resubmit"`` (default) pays again, saying so in the log and counting it
        in ``uncertain_creates``; ``"fail"`` fails without retry until someone checks.
    """

    template_fields: Sequence[str] = ("prompt", "callback_url", "output_dir")
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

    def _schedule(self) -> PollSchedule:
        from airflow_provider_i2v.schedule import PollSchedule

        return PollSchedule(
            self.poll_interval, self.max_poll_interval, adaptive=self.adaptive_polling, model=self.model
        )

    def _trigger_kwargs(self) -> dict[str, Any]:
        """What a trigger needs to poll like this operator: the connection, schedule and deadline."""
        return {
            "i2v_conn_id": self.i2v_conn_id,
            "poll_interval": self.poll_interval,
            "max_poll_interval": self.max_poll_interval,
            "adaptive": self.adaptive_polling,
            "model": self.model,
            "deadline": self._deadline(),
        }

    def _deadline(self) -> float | None:
        """When this try stops waiting: ``generation_timeout`` from now.

        Counted per try, so a retry after a timeout reconnects and waits again instead of
        failing at its first poll; it is absolute in the trigger's kwargs, so a triggerer
        restart does not extend it.
        """
        import time

        return None if self.generation_timeout is None else time.time() + self.generation_timeout
