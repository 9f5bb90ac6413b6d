"""The batch operator: thousands of images in one task, one trigger, one manifest."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_i2v.exceptions import I2VBatchFailedError, I2VError, I2VInvalidRequestError
from airflow_provider_i2v.generation.request import check_params
from airflow_provider_i2v.links.i2v import I2VBatchManifestLink
from airflow_provider_i2v.operators.base import GenerationOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_i2v.batch.items import BatchItem
    from airflow_provider_i2v.generation.outcome import Outcome
    from airflow_provider_i2v.generation.record import BatchSlots, Entry
    from airflow_provider_i2v.generation.wait import WaitResult


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

    def _slots(self, context: Context, count: int) -> BatchSlots:
        from airflow_provider_i2v.generation.record import BatchSlots

        return BatchSlots(context.get("task_state_store"), count)

    # -- execution -------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from airflow_provider_i2v.batch.items import check_items
        from airflow_provider_i2v.generation.keys import XCOM_GENERATION_IDS
        from airflow_provider_i2v.generation.record import Status
        from airflow_provider_i2v.generation.rules import Asked, Next, record_outcome
        from airflow_provider_i2v.generation.submit import Slotted, plan, submit

        check_params(self._params(), rendered=True)
        items = self._items()
        settings = self._settings()  # resolved and checked before any intent is written
        slots = self._slots(context, len(items))
        revision, check_url = self._revision(), self.check_image_url
        # Every item checked before the first create (http(s) images concurrently).
        items, valid, refused = check_items(items, revision=revision, check_url=check_url, settings=settings)
        if refused and self.on_invalid == "fail":
            listed = "; ".join(exc.message for _, exc in refused[:20])
            raise I2VInvalidRequestError(
                f"{len(refused)} of {len(items)} items are invalid; nothing was sent: {listed}"
            )
        slotted = [
            Slotted(
                item.index,
                item.where,
                slots.slot(item.index),
                Asked(
                    valid[item.index].digest,
                    settings.base_url,
                    self.i2v_conn_id,
                    valid[item.index].model,
                    valid[item.index].image,
                ),
                lambda item=item: item.prepare(  # type: ignore[misc]
                    None, revision=revision, check_url=check_url, settings=settings
                ),
            )
            for item in items
            if item.index in valid
        ]
        acknowledged = self._acknowledged(context)
        policy = self.on_uncertain_create
        decisions = asyncio.run(
            plan(self.hook, slotted, policy=policy, acknowledged=acknowledged, log=self.log)
        )
        by_next = {n: [s for s in slotted if decisions[s.index].next is n] for n in Next}
        self.log.info(
            "Batch of %d items: %d delivered or completed earlier (reused), %d still rendering "
            "(reconnected), %d to submit, %d invalid",
            len(items),
            len(by_next[Next.REUSE]),
            len(by_next[Next.RECONNECT]),
            len(by_next[Next.SUBMIT]),
            len(refused),
        )
        for s in by_next[Next.REUSE]:  # completed but not recorded yet: recorded now, before the wait
            outcome = decisions[s.index].outcome
            if outcome is not None and slots.entry(s.index).status is not Status.COMPLETED:
                record_outcome(s.slot, outcome)
        if acknowledged and by_next[Next.SUBMIT]:  # used up before anything is sent
            self._acknowledgement_used(context)
        created = asyncio.run(
            submit(
                self.hook,
                by_next[Next.SUBMIT],
                policy=policy,
                max_in_flight=self.max_in_flight,
                backoff=(settings.backoff_initial, settings.backoff_max),
                log=self.log,
            )
        )
        self._record_unsent(slots, refused, created)
        ids = [slots.entry(i).generation_id for i in range(len(items))]
        context["ti"].xcom_push(key=XCOM_GENERATION_IDS, value=ids)
        stopped = next(
            (c.error for c in created.values() if c.error is not None and _stops_all(c.error)), None
        )
        if stopped is not None:
            raise stopped
        live = [s.index for s in by_next[Next.RECONNECT]] + [i for i, c in created.items() if c.generation_id]
        live_ids = [str(slots.entry(i).generation_id) for i in sorted(live)]
        self.log.info(
            "Batch: %d generations to wait for (%d items without one)",
            len(live_ids),
            len(items) - len(live_ids) - len(by_next[Next.REUSE]),
        )
        return self._wait(context, live_ids)

    def _record_unsent(
        self,
        slots: BatchSlots,
        refused: list[tuple[BatchItem, I2VInvalidRequestError]],
        created: dict[int, Any],
    ) -> None:
        """Record why items have no generation this try (the manifest is built from the records)."""
        from dataclasses import replace

        from airflow_provider_i2v.generation.record import Status
        from airflow_provider_i2v.generation.results import error_payload

        entries: dict[int, Entry] = {}
        for item, exc in refused:
            invalid = {"code": None, "message": exc.message}
            entries[item.index] = replace(slots.entry(item.index), status=Status.INVALID, error=invalid)
        for index, result in created.items():
            if result.generation_id is None:
                error = None if result.error is None else error_payload(result.error)
                status = Status.UNCERTAIN if result.uncertain else Status.NOT_SUBMITTED
                entries[index] = replace(slots.entry(index), status=status, error=error)
        slots.write_many(entries, paid=None)

    def _wait(self, context: Context, generation_ids: list[str]) -> Any:
        from airflow_provider_i2v.generation.wait import WaitResult, poll_until_terminal

        if not generation_ids:
            return self._finish(context, WaitResult())
        if self.deferrable:
            from airflow_provider_i2v.triggers.batch import I2VBatchTrigger

            self.defer(
                trigger=I2VBatchTrigger(
                    generation_ids=generation_ids, started_at=time.time(), **self._trigger_kwargs()
                ),
                method_name="execute_complete",
            )
        waited = poll_until_terminal(
            self.hook,
            generation_ids,
            self.polling,
            started_at=time.time(),
            deadline=self._deadline(),
            log=self.log,
        )
        return self._finish(context, asyncio.run(waited))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow_provider_i2v.generation.events import wait_result_from_event

        return self._finish(context, wait_result_from_event(event))

    def _finish(self, context: Context, waited: WaitResult) -> dict[str, Any]:
        from airflow_provider_i2v.assets import emit_batch_asset_events
        from airflow_provider_i2v.batch.finish import finish_batch
        from airflow_provider_i2v.generation.keys import XCOM_MANIFEST_URI

        items = self._items()
        slots = self._slots(context, len(items))
        finished = finish_batch(
            items,
            slots,
            waited,
            keep=self._keeper(slots) if self.output_dir else None,
            output_dir=self.output_dir,
            max_inline_items=self.max_inline_items,
            accepts=self.accepts,
            log=self.log,
        )
        if finished.manifest_uri is not None:
            context["ti"].xcom_push(key=XCOM_MANIFEST_URI, value=finished.manifest_uri)
        emit_batch_asset_events(list(self.outlets), context, finished.manifest, finished.value)
        if finished.verdict is not None:
            raise I2VBatchFailedError(finished.verdict)
        return finished.value

    def _keeper(self, slots: BatchSlots) -> Any:
        """Copies one completed item's outputs, remembering each copied file in its record."""
        from dataclasses import replace

        from airflow_provider_i2v.outputs import keep

        settings = self.hook.get_settings()

        def keep_item(index: int, outcome: Outcome, entry: Entry) -> list[dict[str, Any]]:
            def remember(records: list[dict[str, Any]]) -> None:
                try:
                    slots.write(index, replace(slots.entry(index), files=tuple(records)), paid=None)
                except I2VError as exc:
                    self.log.warning("images[%d]: could not record the copied outputs (%s)", index, exc)

            return keep(
                list(outcome.output_urls),
                self.output_dir,
                outcome.generation_id,
                settings,
                known=entry.files,
                remember=remember,
            )

        return keep_item

    def accepts(self, succeeded: int, counted: int) -> bool:
        """Whether ``succeeded`` of ``counted`` items (invalid skipped items not counted) is enough."""
        if self.allow_failures:
            return True
        if self.min_success is None:
            return succeeded == counted
        if isinstance(self.min_success, float):
            return counted == 0 or succeeded / counted >= self.min_success
        return succeeded >= self.min_success


def _stops_all(error: I2VError) -> bool:
    """A refusal that concerns the account or the connection, not one item."""
    from airflow_provider_i2v.exceptions import ACCOUNT_REFUSALS

    return isinstance(error, ACCOUNT_REFUSALS)


__all__ = ["I2VError", "ImageToVideoBatchOperator"]
