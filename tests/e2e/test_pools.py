"""An account-wide limit on live generations needs an Airflow pool with ``include_deferred``.

The provider's 429 back-off is shared by the triggers of one process only; with several
workers and triggerers nothing in the provider can count what the whole deployment has
in flight. Airflow can: a pool of K slots with ``include_deferred=True`` keeps a slot
taken while the task is deferred (rendering), so at most K generations are live at once.

Two runs of the same mapped DAG of N generations against the simulator. Without the pool
(``default_pool``) every mapped task submits as soon as a slot frees, and deferring frees
it at once: more than K are live together. In a pool of K slots with ``include_deferred``
at most K are, the pool reports deferred tasks as occupying it, and every generation is
still created exactly once. "Live" is the simulator's record: a generation is live from
its creation until its render ends.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dev.airflow_stack import AirflowStack, wait_until

pytestmark = pytest.mark.timeout(600)

GENERATIONS = 6
SLOTS = 2
#: Renders long enough that the unpooled tasks, which start seconds apart on a busy machine,
#: render together; in the pool (three waves of two) shorter ones do, as each wave starts
#: together.
UNPOOLED_RENDER_SECONDS = 10.0
POOLED_RENDER_SECONDS = 5.0
POOL = "i2v_account"

DAG = """
from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_i2v.operators.i2v import ImageToVideoOperator


@dag(dag_id="__DAG_ID__", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def pooled():
    ImageToVideoOperator.partial(
        task_id="generate",
        prompt="{{ run_id }}",
        poll_interval=1.0,
        retries=0,
        pool="__POOL__",
        check_image_url=False,  # never fetched: the gateway is the simulator
    ).expand(first_frame_image=[f"https://images.example.com/p/{i}.jpg" for i in range(__N__)])


pooled()
"""


def most_live_at_once(intervals: list[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals that overlap at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    live = most = 0
    for _, change in events:  # at a tie an end (-1) sorts before a start (+1)
        live += change
        most = max(most, live)
    return most


def _span(generations: list[Any]) -> float:
    """Seconds from the first creation to the end of the last render."""
    return max(g.created_at + g.duration for g in generations) - min(g.created_at for g in generations)


def _run(
    stack: AirflowStack,
    write_dag: Callable[[str, str], Path],
    dag_id: str,
    pool: str,
    during: Callable[[], None] = lambda: None,
) -> tuple[str, dict[str, Any]]:
    write_dag(
        dag_id, DAG.replace("__DAG_ID__", dag_id).replace("__POOL__", pool).replace("__N__", str(GENERATIONS))
    )
    api = stack.client
    api.wait_for_dag(dag_id, timeout=120)
    api.unpause(dag_id)
    run_id = api.trigger(dag_id)["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        during()
        run = api.get_dag_run(dag_id, run_id)
        return run if run["state"] in ("success", "failed") else None

    run = wait_until(finished, timeout=400, interval=0.5, description=f"{dag_id} to finish")
    return run_id, run


def test_pool_with_include_deferred_caps_live_generations_account_wide(
    airflow_stack: AirflowStack,
    write_dag: Callable[[str, str], Path],
    e2e_simulator: Any,
    i2v_connection: str,
) -> None:
    api = airflow_stack.client
    e2e_simulator.configure(generation_seconds=UNPOOLED_RENDER_SECONDS)

    run_id, run = _run(airflow_stack, write_dag, "e2e_unpooled", "default_pool")
    assert run["state"] == "success", api.describe_failures("e2e_unpooled", run_id)
    unpooled = most_live_at_once(
        [(g.created_at, g.created_at + g.duration) for g in e2e_simulator.generations]
    )
    unpooled_span = _span(e2e_simulator.generations)
    assert e2e_simulator.creations == GENERATIONS
    assert unpooled > SLOTS  # without the pool nothing holds them back

    e2e_simulator.reset(e2e_simulator.config)
    e2e_simulator.configure(generation_seconds=POOLED_RENDER_SECONDS)
    api.create_pool(POOL, SLOTS, include_deferred=True, description="live generations on the account")
    seen: dict[str, int] = {"occupied": 0, "deferred": 0}

    def sample_pool() -> None:
        pool = api.get_pool(POOL)
        seen["occupied"] = max(seen["occupied"], int(pool["occupied_slots"]))
        seen["deferred"] = max(seen["deferred"], int(pool["deferred_slots"]))

    try:
        run_id, run = _run(airflow_stack, write_dag, "e2e_pooled", POOL, during=sample_pool)
    finally:
        api.delete_pool(POOL)
    assert run["state"] == "success", api.describe_failures("e2e_pooled", run_id)
    generations = e2e_simulator.generations
    pooled = most_live_at_once([(g.created_at, g.created_at + g.duration) for g in generations])
    assert pooled <= SLOTS
    assert pooled == SLOTS  # the pool's slots were used, not only respected
    assert seen["occupied"] <= SLOTS
    assert seen["deferred"] >= 1  # a deferred (rendering) task held its slot
    assert e2e_simulator.creations == GENERATIONS
    assert len([r for r in e2e_simulator.requests if r.endpoint == "create"]) == GENERATIONS
    tis = [t for t in api.task_instances("e2e_pooled", run_id) if t["task_id"] == "generate"]
    assert [t["try_number"] for t in tis] == [1] * GENERATIONS
    assert {t["pool"] for t in tis} == {POOL}
    print(
        f"\npools: {GENERATIONS} generations of {UNPOOLED_RENDER_SECONDS:g} s (unpooled) and "
        f"{POOLED_RENDER_SECONDS:g} s (pooled); "
        f"without a pool {unpooled} live at once; "
        f"in a pool of {SLOTS} slots (include_deferred) {pooled} live at once, at most "
        f"{seen['occupied']} slots occupied ({seen['deferred']} by deferred tasks), "
        f"{e2e_simulator.creations} creations; renders spanned {_span(generations):.1f} s "
        f"({unpooled_span:.1f} s without the pool)"
    )
