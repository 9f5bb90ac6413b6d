"""When is a component ready? Each kind answers differently, and a restart must not be
mistaken for the run before it.

* the api-server: ``/api/v2/monitor/health`` answers;
* the scheduler and the dag-processor: the health endpoint shows a heartbeat newer than
  this launch;
* a triggerer: a *new* ``TriggererJob`` row heartbeats (the health endpoint shows only the
  newest heartbeat of all triggerers, which another triggerer may have written). Its id is
  kept: it is what ``trigger.triggerer_id`` holds, so tests can tell which triggerer runs
  which trigger. Triggerers are therefore launched one at a time;
* the Celery worker: its log says ``ready.`` after this launch's banner.

A component that exits while it is being waited for fails the wait at once, with its log.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from .client import AirflowClient
from .processes import StackError, Supervisor, WaitTimeout, wait_until

#: Component -> its key in ``GET /api/v2/monitor/health``.
_HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor"}
TRIGGERER_JOB = "TriggererJob"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class StackView(Protocol):
    """What readiness reads of an :class:`~.stack.AirflowStack` (which owns a ``Readiness``:
    a protocol keeps the two modules from importing each other)."""

    _supervisor: Supervisor

    @property
    def api_url(self) -> str: ...

    @property
    def client(self) -> AirflowClient: ...

    def log_path(self, name: str) -> Path: ...

    def log_tail(self, name: str, lines: int = 60) -> str: ...

    def log_text(self, name: str) -> str: ...


class Readiness:
    def __init__(self, stack: StackView) -> None:
        self.stack = stack
        self.launched_at: dict[str, datetime] = {}
        #: Triggerer name -> the id of the job row its current run created.
        self.job_ids: dict[str, int] = {}
        self._jobs_before: dict[str, set[int]] = {}
        self._api_up = False

    def health(self) -> dict[str, Any]:
        response = httpx.get(f"{self.stack.api_url}/api/v2/monitor/health", timeout=10.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def launching(self, name: str, at: datetime) -> None:
        self.launched_at[name] = at
        if name.startswith("triggerer"):
            self.job_ids.pop(name, None)
            # Before the api-server is up the database is fresh: no triggerer job exists yet.
            self._jobs_before[name] = (
                {int(j["id"]) for j in self._triggerer_jobs()} if self._api_up else set()
            )

    def wait(self, names: Sequence[str], *, timeout: float) -> None:
        pending = list(names)

        def check() -> bool:
            self._check_alive()
            try:
                health = self.health()
            except (httpx.HTTPError, ValueError):
                return False
            self._api_up = True
            for name in list(pending):
                if self._ready(name, health):
                    pending.remove(name)
            return not pending

        def details() -> str:
            parts = [f"not ready: {pending}"]
            with contextlib.suppress(Exception):
                parts.append(f"health: {json.dumps(self.health())}")
            for name in pending or names:
                parts.append(f"--- {self.stack.log_path(name)}\n{self.stack.log_tail(name, 40)}")
            return "\n".join(parts)

        try:
            wait_until(
                check, timeout=timeout, interval=0.3, description=f"Airflow {list(names)}", details=details
            )
        except WaitTimeout as exc:
            raise StackError(str(exc)) from exc

    def _ready(self, name: str, health: dict[str, Any]) -> bool:
        launched = self.launched_at[name]
        if name == "api-server":
            return True
        if name in _HEALTH_KEYS:
            key = _HEALTH_KEYS[name]
            entry = health.get(key) or {}
            beat = parse_time(entry.get(f"latest_{key}_heartbeat"))
            return entry.get("status") == "healthy" and beat is not None and beat >= launched
        if name.startswith("triggerer"):
            return self._triggerer_ready(name, launched)
        if name == "celery-worker":
            text = self.stack.log_text(name)
            return " ready." in text.rsplit("===== celery-worker starting at", 1)[-1]
        raise StackError(f"no readiness check for {name}")

    def _triggerer_ready(self, name: str, launched: datetime) -> bool:
        taken = self._jobs_before.get(name, set()) | {i for n, i in self.job_ids.items() if n != name}
        new = [j for j in self._triggerer_jobs() if int(j["id"]) not in taken and j.get("state") == "running"]
        if len(new) > 1:
            raise StackError(
                f"{name}: several new triggerer jobs {[j['id'] for j in new]}; launch one at a time"
            )
        if not new:
            return False
        beat = parse_time(new[0].get("latest_heartbeat"))
        if beat is None or beat < launched:
            return False
        self.job_ids[name] = int(new[0]["id"])
        return True

    def _triggerer_jobs(self) -> list[dict[str, Any]]:
        return self.stack.client.jobs(TRIGGERER_JOB)

    def _check_alive(self) -> None:
        supervisor = self.stack._supervisor
        for name in supervisor.names:
            proc = supervisor.process(name)
            if proc is not None and proc.poll() is not None:
                raise StackError(
                    f"{name} exited with code {proc.returncode} "
                    f"(log {self.stack.log_path(name)}):\n{self.stack.log_tail(name)}"
                )
