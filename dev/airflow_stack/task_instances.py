"""The task-instance half of the REST client: states, tries, logs, XCom, clears.

Kept apart from the HTTP plumbing in :mod:`.client` because it is what tests read most:
every helper here returns plain dicts as the API sends them, pages through list
endpoints (they stop at 100 items), and addresses mapped task instances by
``map_index`` the way the API does (``-1`` for an unmapped task).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from .errors import ApiError
from .logs import is_error_entry, render_entry, render_task_log

TERMINAL_TI_STATES: frozenset[str] = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


def ti_label(ti: Mapping[str, Any]) -> str:
    """``task`` or ``task[i]`` for a mapped task instance."""
    map_index = int(ti.get("map_index", -1))
    return f"{ti.get('task_id')}[{map_index}]" if map_index >= 0 else str(ti.get("task_id"))


def _ti_path(dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
    return f"{path}/{map_index}" if map_index >= 0 else path


class TaskInstancesApi:
    """Mixed into :class:`.client.AirflowClient`, which provides the three methods below."""

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
        raise NotImplementedError

    def get_json(self, path: str, **params: Any) -> Any:
        raise NotImplementedError

    def paged(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def task_instances(
        self, dag_id: str, run_id: str, *, task_id: str | None = None, **filters: Any
    ) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included, sorted by task and map index."""
        params: dict[str, Any] = dict(filters)
        if task_id is not None:
            params["task_id"] = task_id
        items = self.paged(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", "task_instances", params)
        return sorted(items, key=lambda ti: (str(ti.get("task_id")), int(ti.get("map_index", -1))))

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        return dict(self.get_json(_ti_path(dag_id, run_id, task_id, map_index)))

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        """``{"task" or "task[i]": state}`` for every task instance of a run."""
        return {ti_label(ti): ti.get("state") for ti in self.task_instances(dag_id, run_id)}

    def task_tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """Every try of a task instance (``TaskInstanceHistory`` plus the current one)."""
        return self.paged(_ti_path(dag_id, run_id, task_id, map_index) + "/tries", "task_instances")

    def try_details(
        self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1
    ) -> dict[str, Any]:
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries/{try_number}"
        return dict(self.get_json(path, map_index=map_index))

    def task_log(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int,
        map_index: int = -1,
        *,
        compact: bool = False,
    ) -> str:
        """The full log of one try as text (see :func:`.logs.render_task_log`)."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        response = self.request(
            "GET",
            path,
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        return render_task_log(response.json().get("content") or [], compact=compact)

    def error_log_lines(self, dag_id: str, run_id: str, *, states: Iterable[str] = ("success",)) -> list[str]:
        """Every error-level line logged by any try of the run's task instances in ``states``.

        A task that succeeded should have none: an error line in a healthy task is either a
        bug or noise that teaches users to ignore errors.
        """
        wanted = set(states)
        found: list[str] = []
        for ti in self.task_instances(dag_id, run_id):
            if ti.get("state") not in wanted:
                continue
            map_index = int(ti.get("map_index", -1))
            for try_number in range(1, int(ti.get("try_number") or 0) + 1):
                path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{try_number}"
                response = self.request(
                    "GET",
                    path,
                    params={"full_content": "true", "map_index": map_index},
                    headers={"Accept": "application/json"},
                )
                for entry in response.json().get("content") or []:
                    if is_error_entry(entry):
                        found.append(f"{ti_label(ti)} try {try_number}: {render_entry(entry, compact=True)}")
        return found

    def set_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """Mark a task instance (e.g. ``failed``, ``success``) like the UI does."""
        path = _ti_path(dag_id, run_id, task_id, map_index)
        response = self.request("PATCH", path, json_body={"new_state": state})
        return list(response.json().get("task_instances") or [])

    def clear_task_instances(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Sequence[str | tuple[str, int]] | None = None,
        *,
        only_failed: bool = False,
        include_downstream: bool = False,
        reset_dag_runs: bool = True,
        dry_run: bool = False,
    ) -> list[dict[str, Any]]:
        """Clear task instances of one run (``task_ids`` items: ``"t"`` or ``("t", map_index)``).

        Unlike the endpoint's defaults, this clears for real and not only failed ones.
        """
        body: dict[str, Any] = {
            "dag_run_id": run_id,
            "dry_run": dry_run,
            "only_failed": only_failed,
            "reset_dag_runs": reset_dag_runs,
            "include_downstream": include_downstream,
        }
        if task_ids is not None:
            body["task_ids"] = [list(t) if isinstance(t, tuple) else t for t in task_ids]
        response = self.request("POST", f"dags/{dag_id}/clearTaskInstances", json_body=body)
        return list(response.json().get("task_instances") or [])

    def xcom_entry(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> dict[str, Any] | None:
        """The raw XCom entry (``{"key", "value", ...}``) or None if there is none."""
        path = f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        response = self.request("GET", path, params={"map_index": map_index}, ok=(200, 404))
        return None if response.status_code == 404 else dict(response.json())

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        """The XCom value, decoded (raises ``KeyError`` if the entry does not exist)."""
        entry = self.xcom_entry(dag_id, run_id, task_id, key, map_index)
        if entry is None:
            raise KeyError(f"no XCom {key!r} for {dag_id}/{run_id}/{task_id}[{map_index}]")
        value = entry.get("value")
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return json.loads(value)
        return value

    def describe_failures(self, dag_id: str, run_id: str, *, log_lines: int = 30) -> str:
        """Failed task instances of a run with the tail of each one's log (for error messages)."""
        parts: list[str] = []
        for ti in self.task_instances(dag_id, run_id):
            if ti.get("state") not in ("failed", "upstream_failed", "up_for_retry"):
                continue
            parts.append(f"task {ti_label(ti)}: {ti.get('state')} (try {ti.get('try_number')})")
            if ti.get("state") == "upstream_failed" or not ti.get("try_number"):
                continue
            try:
                text = self.task_log(
                    dag_id,
                    run_id,
                    ti["task_id"],
                    int(ti["try_number"]),
                    int(ti.get("map_index", -1)),
                    compact=True,
                )
            except (ApiError, httpx.HTTPError) as exc:
                text = f"<log unavailable: {exc}>"
            tail = "\n".join(text.splitlines()[-log_lines:])
            parts.append("    " + tail.replace("\n", "\n    "))
        return "\n".join(parts) if parts else "no failed task instances"
