"""One page of generation rows, with its totals: what the JSON API answers.

Pure functions over :mod:`.records` and :mod:`.store`: the route supplies the session and
the DAGs the user may read, and gets back a JSON-ready dict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlparse

from airflow_provider_i2v.plugins import store
from airflow_provider_i2v.plugins.records import (
    BATCH_PREFIX,
    SINGLE_KEY,
    Filters,
    Generation,
    expand,
    format_cost,
    parse_cost,
    sort_key,
    totals,
)

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class PageRequest:
    filters: Filters
    limit: int = DEFAULT_PAGE_SIZE
    offset: int = 0


def key_of(item: int | None) -> str:
    """The ``task_state_store`` key that holds a single task's record or a batch item's."""
    return SINGLE_KEY if item is None else f"{BATCH_PREFIX}{item // 100}"


def local_path(uri: Any) -> str | None:
    """The api-server path of a kept copy (``file://`` URI or absolute path), or None."""
    if not isinstance(uri, str) or not uri:
        return None
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            return None
        path = unquote(parsed.path)
    elif uri.startswith("/"):
        path = uri
    else:
        return None
    return os.path.normpath(path)


def ti_path(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """The task instance's page in the Airflow 3.3 UI (relative to the UI's base path)."""
    path = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
    return f"{path}/mapped/{map_index}" if map_index >= 0 else path


def _preview(generation: Generation) -> dict[str, Any] | None:
    entry = generation.entry
    files = _list(entry.get("files"))
    for number, kept in enumerate(files):
        path = local_path(kept.get("uri")) if isinstance(kept, dict) else None
        if path is not None and os.path.isfile(path):
            query = {
                "dag_id": generation.dag_id,
                "run_id": generation.run_id,
                "task_id": generation.task_id,
                "map_index": generation.map_index,
                "n": number,
            }
            if generation.item is not None:
                query["item"] = generation.item
            return {"kind": "kept", "url": "api/file?" + urlencode(query), "uri": kept.get("uri")}
    urls = _list(entry.get("video_urls"))
    for url in urls:
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return {"kind": "gateway", "url": url}
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def files_of(entry: dict[str, Any] | None) -> list[Any]:
    """The record's kept copies (``files``), or none."""
    return _list(entry.get("files")) if entry else []


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def row(generation: Generation) -> dict[str, Any]:
    """One generation as the page shows it (never the connection's secrets: there are none here)."""
    entry = generation.entry
    error = _dict(entry.get("error"))
    cost = parse_cost(entry.get("cost"))
    files = _list(entry.get("files"))
    return {
        "dag_id": generation.dag_id,
        "run_id": generation.run_id,
        "task_id": generation.task_id,
        "map_index": generation.map_index,
        "item": generation.item,
        "generation_id": _text(entry.get("generation_id")),
        "status": generation.status,
        "model": _text(entry.get("model")),
        "conn_id": _text(entry.get("conn_id")),
        "submitted_at": _number(entry.get("submitted_at")),
        "finished_at": _number(entry.get("finished_at")),
        "updated_at": generation.updated_at,
        "render_seconds": _number(entry.get("render_seconds")),
        "cost": format_cost(cost) if cost is not None else None,
        "error_code": _text(error.get("code")),
        "error_message": _text(error.get("message")),
        "uncertain_creates": int(entry.get("uncertain_creates") or 0),
        "video_urls": [u for u in _list(entry.get("video_urls")) if isinstance(u, str)],
        "files": [
            {"uri": f.get("uri"), "size": f.get("size")}
            for f in files
            if isinstance(f, dict) and f.get("uri")
        ],
        "preview": _preview(generation),
        "ti_path": ti_path(generation.dag_id, generation.run_id, generation.task_id, generation.map_index),
    }


def page(session: Any, dag_ids: set[str], request: PageRequest) -> dict[str, Any]:
    """Rows ``offset .. offset+limit`` of the filtered generations, newest first, and their totals."""
    filters = request.filters
    scan = store.scan(
        session,
        dag_ids=dag_ids,
        dag_id=filters.dag_id,
        run_id=filters.run_id,
        task_id=filters.task_id,
        map_index=filters.map_index,
        since=filters.since,
    )
    generations = [g for stored in scan.rows for g in expand(stored) if filters.keep(g)]
    generations.sort(key=sort_key)
    limit = max(1, min(request.limit, MAX_PAGE_SIZE))
    shown = generations[request.offset : request.offset + limit]
    return {
        "total": len(generations),
        "offset": request.offset,
        "limit": limit,
        "truncated": scan.truncated,
        "rows": [row(g) for g in shown],
        "totals": totals(generations),
        "dags": store.dags_with_generations(session, dag_ids=dag_ids),
    }
