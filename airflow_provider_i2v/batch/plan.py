"""What a try of a batch does with each item, given what earlier tries left.

The single operator's decisions, per item: reuse a completed generation, reconnect to a
running one, submit anew after a failure (or an expired id), and say plainly when an
earlier create's outcome is unknown. A stored generation whose status cannot be read
stops the try: an item is never submitted while its earlier generation cannot be checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_i2v.exceptions import (
    I2VCreationUnresolvedError,
    I2VGenerationNotFoundError,
    I2VTransientError,
)
from airflow_provider_i2v.protocol import GenerationStatus

if TYPE_CHECKING:
    from airflow_provider_i2v.batch.items import BatchItem
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.resume import UncertainCreatePolicy
    from airflow_provider_i2v.state import Entry


@dataclass
class BatchPlan:
    """Item indexes by what this try does with them."""

    reuse: list[int] = field(default_factory=list)
    reconnect: list[int] = field(default_factory=list)
    submit: list[int] = field(default_factory=list)
    #: Items whose earlier create's outcome is unknown (a subset of ``submit``).
    uncertain: list[int] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{len(self.reuse)} completed earlier (reused), {len(self.reconnect)} still rendering "
            f"(reconnected), {len(self.submit)} to submit"
        )


def plan_batch(
    hook: I2VHook,
    items: list[BatchItem],
    entries: dict[int, Entry],
    *,
    policy: UncertainCreatePolicy,
    log: Any,
) -> BatchPlan:
    """Look up every stored generation (concurrently) and decide each item's fate."""
    from airflow_provider_i2v.batch.wait import poll_once

    plan = BatchPlan()
    stored = {i.index: entries[i.index].generation_id for i in items if entries[i.index].generation_id}
    states = asyncio.run(poll_once(hook, [str(gid) for gid in stored.values()])) if stored else {}
    for item in items:
        gid = stored.get(item.index)
        if gid is not None:
            state = states[gid]
            if isinstance(state, I2VGenerationNotFoundError):
                log.warning(
                    "%sgeneration %s of an earlier try is unknown (expired?); submitting anew",
                    item.where,
                    gid,
                )
            elif isinstance(state, Exception):
                raise I2VTransientError(
                    f"{item.where}the status of generation {gid} of an earlier try cannot be read ({state}); "
                    "nothing is submitted while it cannot be checked",
                    generation_id=gid,
                )
            elif state.status is GenerationStatus.COMPLETED:
                plan.reuse.append(item.index)
                continue
            elif state.status is GenerationStatus.RUNNING:
                plan.reconnect.append(item.index)
                continue
            else:
                log.info("%sgeneration %s of an earlier try failed; submitting anew", item.where, gid)
        if entries[item.index].pending_since is not None:
            plan.uncertain.append(item.index)
        plan.submit.append(item.index)
    if plan.uncertain:
        listed = ", ".join(f"images[{i}]" for i in plan.uncertain[:20])
        if policy == "fail":
            raise I2VCreationUnresolvedError(
                f"earlier creates of {len(plan.uncertain)} items have an unknown outcome ({listed}): "
                "generations may exist and may have been paid for. on_uncertain_create='fail', so "
                "nothing is submitted; check the vendor's console, then clear the task."
            )
        log.warning(
            "Earlier creates of %d items have an unknown outcome (%s): generations may exist and may have "
            "been paid for. The gateway cannot look them up, so they are submitted again now "
            "(on_uncertain_create='resubmit').",
            len(plan.uncertain),
            listed,
        )
    return plan
