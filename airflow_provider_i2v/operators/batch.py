"""The batch operator: thousands of images in one task, one trigger, one manifest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_i2v.batch.ledger import BatchLedger, forget_batch_after_success
from airflow_provider_i2v.exceptions import I2VBatchFailedError, I2VError, I2VInvalidRequestError
from airflow_provider_i2v.links.i2v import I2VBatchManifestLink
from airflow_provider_i2v.operators.base import GenerationOperator
from airflow_provider_i2v.operators.params import check_params

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.batch.items import BatchItem
    from airflow_provider_i2v.batch.wait import BatchWait

#: XCom key of the list of generation ids (by item index; ``None`` for items without one).
XCOM_GENERATION_IDS = "generation_ids"


class ImageToVideoBatchOperator(GenerationOperator):
    """Generate one video per image of ``images`` in one task: one trigger, one manifest.

    Every item is checked before the first create; each item's generation is remembered
    in ``task_state_store`` as soon as it is accepted, so a retry reuses completed items,
    reconnects to rendering ones and submits anew only failed ones. Creates run at most
    ``max_in_flight`` at once; then one :class:`~airflow_provider_i2v.triggers.batch.I2VBatchTrigger`
    waits for all of them. The result is a manifest (one entry per item, plus totals).

    :param images: a list (or XComArg, or template rendering to a list): each item an image
        in any form :class:`~airflow_provider_i2v.operators.i2v.ImageToVideoOperator`
        accepts, or a dict of per-item parameters (``first_frame_image`` plus any of
        ``prompt``, ``model``, ``duration``, ``resolution``, ``prompt_optimizer``,
        ``callback_url``, ``aigc_watermark``). Templated.
    :param max_in_flight: creates on the wire at once.
    :param on_invalid: ``"fail"`` (default): one invalid item fails the task before anything is
        paid; ``"skip"``: invalid items are reported in the manifest and not submitted.
    :param allow_failures: succeed even when items failed (they are in the manifest).
    :param min_success: succeed when at least this many items (an int) or this share of them
        (a float in 0..1) succeeded.
    :param max_inline_items: with ``output_dir``, XCom holds every item only up to this many;
        beyond, the totals and the manifest's URI.

    The other parameters are :class:`~airflow_provider_i2v.operators.base.GenerationOperator`'s,
    shared by every item; ``generation_timeout`` (default 2 hours) is the whole batch's.
    """

    template_fields: Sequence[str] = ("images", *GenerationOperator.template_fields)
    ui_color = "#d9ccff"
    operator_extra_links = (I2VBatchManifestLink(),)

    def __init__(
        self,
        *,
        images: Any,
        generation_timeout: timedelta | float | None = timedelta(hours=2),
        max_in_flight: int = 16,
        on_invalid: Literal["fail", "skip"] = "fail",
        allow_failures: bool = False,
        min_success: int | float | None = None,
        max_inline_items: int = 500,
        **kwargs: Any,
    ) -> None:
        super().__init__(generation_timeout=generation_timeout, **kwargs)
        self.images = images
        self.max_in_flight = max_in_flight
        self.on_invalid = on_invalid
        self.allow_failures = allow_failures
        self.min_success = min_success
        self.max_inline_items = max_inline_items
        self._check_options()
        self.on_success_callback = [*self.on_success_callback, forget_batch_after_success]

    def _check_options(self) -> None:
        problems = []
        if self.on_invalid not in ("fail", "skip"):
            problems.append(f"on_invalid: must be 'fail' or 'skip', got {self.on_invalid!r}")
        if (
            isinstance(self.max_in_flight, bool)
            or not isinstance(self.max_in_flight, int)
            or self.max_in_flight < 1
        ):
            problems.append(f"max_in_flight: must be an integer >= 1, got {self.max_in_flight!r}")
        share = self.min_success
        if share is not None and (
            isinstance(share, bool) or not share > 0 or (isinstance(share, float) and share > 1)
        ):
            problems.append(f"min_success: must be a count >= 1 or a share in (0, 1], got {share!r}")
        if problems:
            raise I2VInvalidRequestError("; ".join(problems))

    def _items(self) -> list[BatchItem]:
        from airflow_provider_i2v.batch.items import parse_items

        images = self.images
        return parse_items(list(images) if not isinstance(images, str | list) else images, self._params())

    def _ledger(self, context: Context) -> BatchLedger:
        return BatchLedger(context, self.log, on_uncertain_create=self.on_uncertain_create)

    # -- execution -------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from airflow_provider_i2v.batch.items import check_items
        from airflow_provider_i2v.batch.plan import plan_batch
        from airflow_provider_i2v.batch.submit import submit_items

        check_params(self._params(), rendered=True)
        items = self._items()
        ledger = self._ledger(context)
        entries = ledger.load(len(items))
        self.hook.get_settings()  # resolved once, here; the event loops below reuse it
        plan = plan_batch(self.hook, items, entries, policy=self.on_uncertain_create, log=self.log)
        self.log.info("Batch of %d items: %s", len(items), plan.describe())
        to_submit = [items[i] for i in plan.submit]
        notes: dict[int, dict[str, Any]] = {}
        refused = check_items(to_submit, self.log)  # every item, before the first create
        if refused and self.on_invalid == "fail":
            listed = "; ".join(exc.message for _, exc in refused[:20])
            raise I2VInvalidRequestError(
                f"{len(refused)} of {len(items)} items are invalid; nothing was sent: {listed}"
            )
        for item, exc in refused:
            notes[item.index] = {"status": "invalid", "error": {"code": None, "message": exc.message}}
        skipped = {item.index for item, _ in refused}
        valid = [item for item in to_submit if item.index not in skipped]
        submitted = asyncio.run(
            submit_items(self.hook, ledger, valid, max_in_flight=self.max_in_flight, log=self.log)
        )
        for index, result in submitted.items():
            if result.generation_id is None:
                error = result.error
                notes[index] = {
                    "status": "uncertain" if result.uncertain else "not_submitted",
                    "error": {"code": error.code, "message": error.message} if error else None,
                }
        ledger.write_notes(notes)
        ids = [ledger.entry(i).generation_id for i in range(len(items))]
        context["ti"].xcom_push(key=XCOM_GENERATION_IDS, value=ids)
        live = [gid for index, gid in enumerate(ids) if gid and index not in notes]
        self.log.info("Batch: %d generations to wait for (%d items without one)", len(live), len(notes))
        return self._wait(context, live)

    def _wait(self, context: Context, generation_ids: list[str]) -> Any:
        from airflow_provider_i2v.batch.wait import BatchWait, wait_for_all

        if not generation_ids:
            return self._finish(context, BatchWait())
        if self.deferrable:
            from airflow_provider_i2v.triggers.batch import I2VBatchTrigger

            self.defer(
                trigger=I2VBatchTrigger(
                    generation_ids=generation_ids, started_at=time.time(), **self._trigger_kwargs()
                ),
                method_name="execute_complete",
            )
        wait = wait_for_all(
            self.hook,
            generation_ids,
            new_schedule=self._schedule,
            started_at=time.time(),
            deadline=self._deadline(),
            log=self.log,
        )
        return self._finish(context, asyncio.run(wait))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow_provider_i2v.batch.wait import BatchWait
        from airflow_provider_i2v.events import EventStatus, error_from_event

        if event.get("status") == EventStatus.ERROR:
            raise error_from_event(event)
        return self._finish(
            context, BatchWait(dict(event.get("outcomes") or {}), list(event.get("pending") or []))
        )

    def _finish(self, context: Context, wait: BatchWait) -> dict[str, Any]:
        from airflow_provider_i2v.batch.finish import finish_batch

        result, verdict = finish_batch(self, context, self._items(), self._ledger(context), wait)
        if verdict is not None:
            raise I2VBatchFailedError(verdict)
        return result

    def accepts(self, succeeded: int, counted: int) -> bool:
        """Whether ``succeeded`` of ``counted`` items (invalid skipped items not counted) is enough."""
        if self.allow_failures:
            return True
        if self.min_success is None:
            return succeeded == counted
        if isinstance(self.min_success, float):
            return counted == 0 or succeeded / counted >= self.min_success
        return succeeded >= self.min_success


__all__ = ["I2VError", "ImageToVideoBatchOperator"]
