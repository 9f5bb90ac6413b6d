"""The page's only queries: bounded reads of the provider's ``task_state_store`` rows.

Why this table and no table of our own: the operators already write one record per paid
generation there (it must survive retries, so it is written before the paid call and
updated after it); the table is keyed by DAG, run, task and map index, every row belongs
to a DAG run (deleted with it) and Airflow's retention (``expires_at``, ``airflow db
clean``) already bounds it. A second table would be a second copy to keep consistent.

Bounds (every query is one):

* only the provider's keys (``i2v_generation``, ``i2v_batch/%``) of DAGs the user may
  read, newest first, at most :data:`MAX_ROWS` rows (``LIMIT``); a batch row holds at most
  100 items, so a page never parses more than ``MAX_ROWS`` JSON values;
* a time range cuts rows in SQL (``updated_at``, with :data:`CLOCK_SLACK` for the worker's
  clock) before any JSON is parsed;
* a single row (a kept file) is looked up by its full key (the table's unique index).

The JSON values are parsed in Python (:mod:`.records`): SQLite and PostgreSQL spell
JSON paths differently, and at these sizes parsing is cheap (benchmarks/bench_ui_page.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_i2v.plugins.records import BATCH_PREFIX, SINGLE_KEY, StoredRow

#: Stored rows read per request at most (newest first); beyond it the answer says "truncated".
MAX_ROWS = 20_000
#: How far a worker's clock (submitted_at) may run ahead of the database's (updated_at).
CLOCK_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Scan:
    rows: list[StoredRow]
    truncated: bool


def _model() -> Any:
    from airflow.models.task_state_store import TaskStateStoreModel

    return TaskStateStoreModel


def _ours(model: Any) -> Any:
    from sqlalchemy import or_

    return or_(model.key == SINGLE_KEY, model.key.like(BATCH_PREFIX + "%"))


def _stored_rows(model: Any) -> Any:
    """``select`` of a :class:`StoredRow`'s columns, in the order of its fields."""
    from sqlalchemy import select

    return select(
        model.dag_id,
        model.run_id,
        model.task_id,
        model.map_index,
        model.key,
        model.value,
        model.updated_at,
    )


def scan(
    session: Any,
    *,
    dag_ids: Collection[str],
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    since: float | None = None,
    max_rows: int | None = None,
) -> Scan:
    """The provider's rows of the readable ``dag_ids``, newest first, at most ``max_rows``."""
    limit = MAX_ROWS if max_rows is None else max_rows
    model = _model()
    allowed = set(dag_ids)
    if dag_id is not None:
        allowed &= {dag_id}
    if not allowed:
        return Scan([], False)
    stmt = _stored_rows(model).where(_ours(model), model.dag_id.in_(sorted(allowed)))
    if run_id is not None:
        stmt = stmt.where(model.run_id == run_id)
    if task_id is not None:
        stmt = stmt.where(model.task_id == task_id)
    if map_index is not None:
        stmt = stmt.where(model.map_index == map_index)
    if since is not None:
        stmt = stmt.where(model.updated_at >= datetime.fromtimestamp(since, tz=UTC) - CLOCK_SLACK)
    stmt = stmt.order_by(model.updated_at.desc(), model.id.desc()).limit(limit + 1)
    rows = [StoredRow(*row) for row in session.execute(stmt)]
    return Scan(rows[:limit], len(rows) > limit)


def dags_with_generations(session: Any, *, dag_ids: Collection[str]) -> list[str]:
    """The readable DAGs that have at least one generation row (the page's DAG filter)."""
    from sqlalchemy import select

    if not dag_ids:
        return []
    model = _model()
    stmt = (
        select(model.dag_id)
        .where(_ours(model), model.dag_id.in_(sorted(dag_ids)))
        .group_by(model.dag_id)
        .order_by(model.dag_id)
    )
    return [dag for (dag,) in session.execute(stmt)]


def one_row(
    session: Any, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str
) -> StoredRow | None:
    """The row of one task instance and key (the table's lookup index), or None."""
    model = _model()
    stmt = (
        _stored_rows(model)
        .where(
            model.dag_id == dag_id,
            model.run_id == run_id,
            model.task_id == task_id,
            model.map_index == map_index,
            model.key == key,
        )
        .limit(1)
    )
    found = session.execute(stmt).first()
    return StoredRow(*found) if found is not None else None
