"""A small REST client for Airflow's public API (``/api/v2``), as a test drives it.

Tests talk to Airflow only the way a user or an operator's tooling would: over HTTP, with
a token from ``POST /auth/token`` (the simple auth manager), logging in again on 401.
Every wait polls a condition with a bound and says, when it runs out, what it saw.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from .errors import ApiError
from .processes import StackError, wait_until
from .task_instances import TaskInstancesApi

__all__ = ["TERMINAL_RUN_STATES", "AirflowClient", "ApiError"]

TERMINAL_RUN_STATES: frozenset[str] = frozenset({"success", "failed"})


class AirflowClient(TaskInstancesApi):
    """REST client for one Airflow api-server; task-instance helpers come from the mixin."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._token: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- plumbing

    def login(self) -> str:
        response = self._http.post("/auth/token", json={"username": self.username, "password": self.password})
        if response.status_code not in (200, 201):
            raise ApiError("POST", "/auth/token", response.status_code, response.text)
        token: str = response.json()["access_token"]
        self._token = token
        return token

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        ok: Iterable[int] = (200, 201, 204),
    ) -> httpx.Response:
        """Send an authenticated request; raise ``ApiError`` unless the status is in ``ok``."""
        if self._token is None:
            self.login()
        url = path if path.startswith("/") else f"/api/v2/{path}"
        for attempt in range(2):
            all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}
            response = self._http.request(method, url, params=params, json=json_body, headers=all_headers)
            if response.status_code == 401 and attempt == 0:
                self.login()
                continue
            break
        if response.status_code not in set(ok):
            raise ApiError(method, url, response.status_code, response.text)
        return response

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None).json()

    def paged(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """All items of a list endpoint (they return at most 100 per page)."""
        items: list[dict[str, Any]] = []
        while True:
            query = {**(params or {}), "limit": 100, "offset": len(items)}
            data = self.request("GET", path, params=query).json()
            batch = data.get(key) or []
            items.extend(batch)
            if not batch or len(items) >= int(data.get("total_entries", 0)):
                return items

    # ---- DAGs

    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self.request("GET", f"dags/{dag_id}", ok=(200, 404))
        return None if response.status_code == 404 else dict(response.json())

    def import_errors(self) -> list[dict[str, Any]]:
        return self.paged("importErrors", "import_errors")

    def wait_for_dag(self, dag_id: str, *, timeout: float = 90.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; fail early on its import error."""

        def parsed() -> dict[str, Any] | None:
            dag = self.get_dag(dag_id)
            if dag is not None and dag.get("has_import_errors"):
                raise StackError(f"DAG {dag_id} has import errors:\n{self._import_errors_text()}")
            return dag

        return wait_until(
            parsed,
            timeout=timeout,
            interval=0.5,
            description=f"DAG {dag_id!r} to be parsed",
            details=self._import_errors_text,
        )

    def _import_errors_text(self) -> str:
        errors = self.import_errors()
        if not errors:
            return "no import errors reported"
        return "\n".join(f"{e.get('filename')}:\n{e.get('stack_trace')}" for e in errors)

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        body = {"is_paused": paused}
        response = self.request(
            "PATCH", f"dags/{dag_id}", params={"update_mask": "is_paused"}, json_body=body
        )
        return dict(response.json())

    def unpause(self, dag_id: str) -> dict[str, Any]:
        return self.set_paused(dag_id, False)

    # ---- DAG runs

    def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Trigger a manual run (no logical date); returns the DAG run (``dag_run_id`` ...)."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        if note is not None:
            body["note"] = note
        return dict(self.request("POST", f"dags/{dag_id}/dagRuns", json_body=body).json())

    def get_dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get_json(f"dags/{dag_id}/dagRuns/{run_id}"))

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        *,
        timeout: float = 300.0,
        interval: float = 1.0,
        states: Iterable[str] = TERMINAL_RUN_STATES,
        on_poll: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Wait until the run reaches one of ``states`` (default: success or failed); return it.

        ``on_poll(run)`` is called on every poll (for progress output).
        """
        wanted = set(states)

        def done() -> dict[str, Any] | None:
            run = self.get_dag_run(dag_id, run_id)
            if on_poll is not None:
                on_poll(run)
            return run if run.get("state") in wanted else None

        return wait_until(
            done,
            timeout=timeout,
            interval=interval,
            description=f"DAG run {dag_id}/{run_id} to reach {sorted(wanted)}",
            details=lambda: "task states: " + json.dumps(self.task_states(dag_id, run_id), indent=1),
        )

    def run_dag(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        timeout: float = 300.0,
        parse_timeout: float = 90.0,
        interval: float = 1.0,
        after_trigger: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Wait for the DAG to be parsed, unpause it, trigger it, and wait for the run's end.

        ``after_trigger(run_id)`` runs once the run exists (to kill a component mid-run, say).
        """
        self.wait_for_dag(dag_id, timeout=parse_timeout)
        self.unpause(dag_id)
        run_id: str = self.trigger(dag_id, conf)["dag_run_id"]
        if after_trigger is not None:
            after_trigger(run_id)
        return self.wait_for_run(dag_id, run_id, timeout=timeout, interval=interval)

    # ---- connections (stored in the metadata DB; an AIRFLOW_CONN_* variable of the same id wins)

    def set_connection(
        self,
        conn_id: str,
        conn_type: str,
        *,
        host: str | None = None,
        login: str | None = None,
        password: str | None = None,
        port: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Create or replace a connection in the metadata database."""
        body: dict[str, Any] = {
            "connection_id": conn_id,
            "conn_type": conn_type,
            "host": host,
            "login": login,
            "password": password,
            "port": port,
            "extra": json.dumps(dict(extra)) if extra is not None else None,
        }
        response = self.request("POST", "connections", json_body=body, ok=(201, 409))
        if response.status_code == 409:
            response = self.request("PATCH", f"connections/{conn_id}", json_body=body)
        return dict(response.json())

    def delete_connection(self, conn_id: str) -> None:
        self.request("DELETE", f"connections/{conn_id}", ok=(204, 404))

    # ---- pools and jobs

    def create_pool(
        self, name: str, slots: int, *, include_deferred: bool, description: str | None = None
    ) -> dict[str, Any]:
        """Create (or replace) a pool; ``include_deferred``: deferred tasks hold their slot."""
        body = {
            "name": name,
            "slots": slots,
            "include_deferred": include_deferred,
            "description": description,
        }
        response = self.request("POST", "pools", json_body=body, ok=(201, 409))
        if response.status_code == 409:
            response = self.request("PATCH", f"pools/{name}", json_body=body)
        return dict(response.json())

    def get_pool(self, name: str) -> dict[str, Any]:
        return dict(self.get_json(f"pools/{name}"))

    def delete_pool(self, name: str) -> None:
        self.request("DELETE", f"pools/{name}", ok=(204, 404))

    def jobs(self, job_type: str | None = None) -> list[dict[str, Any]]:
        """Airflow's job rows (``TriggererJob``, ``SchedulerJob`` ...), heartbeats included."""
        return self.paged("jobs", "jobs", {"job_type": job_type} if job_type else None)
