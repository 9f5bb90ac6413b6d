"""Generation records as the operators keep them in ``task_state_store``, turned into rows.

The operators write one JSON record per paid generation slot: key ``i2v_generation`` for
a single task (the value is the record), keys ``i2v_batch/<chunk>`` for a batch (the value
maps the item index to its record). This module only reads that shape; it never touches
the database, so the rules (what a row is, what counts as a failure, how cost adds up)
are tested without one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, cached_property
from typing import Any

from airflow_provider_i2v.generation.record import BATCH_KEY_PREFIX, STATE_KEY, Status
from airflow_provider_i2v.protocol import cost_of

#: The keys of the records (their home is generation/record.py).
SINGLE_KEY = STATE_KEY
BATCH_PREFIX = BATCH_KEY_PREFIX

#: Statuses the operators record (anything else is shown as it is).
STATUSES = tuple(status.value for status in Status)
#: Statuses that count as a failure in the totals (grouped by error code, else by status).
FAILURE_STATUSES = frozenset(STATUSES) - {Status.SUBMITTED.value, Status.COMPLETED.value}


@dataclass(frozen=True)
class StoredRow:
    """One ``task_state_store`` row, as the query returns it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: str
    updated_at: datetime


@dataclass
class Generation:
    """One generation: a single task's record or one batch item's."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    item: int | None
    updated_at: float
    entry: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.entry.get("status") or "unknown")

    @cached_property
    def when(self) -> float:
        """The time the row sorts and filters by: submitted, else finished, else last written."""
        for name in ("submitted_at", "finished_at", "pending_since"):
            value = _number(self.entry.get(name))
            if value is not None:
                return value
        return self.updated_at

    @cached_property
    def cost(self) -> Decimal | None:
        return parse_cost(self.entry.get("cost"))

    @property
    def error_code(self) -> str | None:
        error = self.entry.get("error")
        if isinstance(error, dict) and error.get("code"):
            return str(error["code"])
        return None

    @cached_property
    def failure_key(self) -> str | None:
        """What the totals group this failure by (its error code, else its status)."""
        if self.status not in FAILURE_STATUSES:
            return None
        return self.error_code or self.status


def parse_cost(value: Any) -> Decimal | None:
    """The recorded cost as an exact decimal (the gateway's rule for reading a cost)."""
    return cost_of({"cost": value})


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def expand(row: StoredRow) -> list[Generation]:
    """The generations one stored row holds (none for a value that is not the contract's shape)."""
    try:
        value = json.loads(row.value)
    except (TypeError, ValueError):
        return []
    updated = _epoch(row.updated_at)
    base = (row.dag_id, row.run_id, row.task_id, row.map_index)
    if row.key == SINGLE_KEY:
        return [Generation(*base, None, updated, value)] if isinstance(value, dict) else []
    if not row.key.startswith(BATCH_PREFIX) or not isinstance(value, dict):
        return []
    out = []
    for index, entry in value.items():
        if isinstance(entry, dict) and str(index).isdigit():
            out.append(Generation(*base, int(index), updated, entry))
    return out


@dataclass(frozen=True)
class Filters:
    """What the page narrows the rows to (all optional)."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    statuses: frozenset[str] = frozenset()
    since: float | None = None
    until: float | None = None

    def keep(self, generation: Generation) -> bool:
        if self.statuses and generation.status not in self.statuses:
            return False
        when = generation.when
        if self.since is not None and when < self.since:
            return False
        return not (self.until is not None and when >= self.until)


@dataclass
class _Tally:
    count: int = 0
    cost: Decimal = Decimal(0)
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, generation: Generation) -> None:
        self.count += 1
        cost = generation.cost
        if cost is not None:
            self.cost += cost
        key = generation.failure_key
        if key is not None:
            self.failures[key] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "cost": format_cost(self.cost),
            "failures": dict(sorted(self.failures.items())),
        }


def format_cost(cost: Decimal) -> str:
    """An exact decimal string with at least two places ("0.28", "1.2345"), never a float."""
    if cost == cost.to_integral_value():
        return f"{cost.quantize(Decimal('0.01'))}"
    text = format(cost.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def day_of(moment: float) -> str:
    """The UTC day of an epoch time ("2026-12-06")."""
    return _day(int(moment // 86400))


@cache
def _day(number: int) -> str:
    return datetime.fromtimestamp(number * 86400, tz=UTC).strftime("%Y-%m-%d")


def totals(generations: list[Generation]) -> dict[str, Any]:
    """Count, cost and failures by error code: overall, per UTC day and per DAG."""
    overall = _Tally()
    by_day: dict[str, _Tally] = defaultdict(_Tally)
    by_dag: dict[str, _Tally] = defaultdict(_Tally)
    for generation in generations:
        overall.add(generation)
        by_day[day_of(generation.when)].add(generation)
        by_dag[generation.dag_id].add(generation)
    return {
        "all": overall.as_dict(),
        "by_day": [{"day": day, **tally.as_dict()} for day, tally in sorted(by_day.items(), reverse=True)],
        "by_dag": [{"dag_id": dag, **tally.as_dict()} for dag, tally in sorted(by_dag.items())],
    }


def sort_key(generation: Generation) -> tuple[float, str, str, str, int, int]:
    return (
        -generation.when,
        generation.dag_id,
        generation.run_id,
        generation.task_id,
        generation.map_index,
        -1 if generation.item is None else generation.item,
    )
