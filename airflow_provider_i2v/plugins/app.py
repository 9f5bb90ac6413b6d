"""The FastAPI app the plugin mounts on the api-server at ``/i2v``.

* ``GET /i2v/`` the page (static HTML/JS/CSS shipped in the wheel; nothing from the internet);
* ``GET /i2v/api/generations`` one page of rows, totals, and the live status of the page's
  rendering rows;
* ``GET /i2v/api/file`` a kept copy of a video, only a file that a row the user may read
  records.

Every API route resolves the user the way Airflow's own routes do (JWT in the
``Authorization`` header or the UI's cookie) and asks Airflow's auth manager which DAGs
that user may read. Database work runs in the thread pool; the loop only awaits the
gateway look-ups (:mod:`.live`).
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import GetUserDep as User
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from airflow_provider_i2v.plugins import rows
from airflow_provider_i2v.plugins.live import LiveStatus
from airflow_provider_i2v.plugins.records import Filters, expand

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: A page of at most this many rows; offsets beyond the bounded scan are empty anyway.
MAX_OFFSET = 2_000_000


def auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def readable_dag_ids(user: Any) -> set[str]:
    """The DAGs the auth manager lets ``user`` read (a database read: call it in a thread)."""
    return set(auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def may_read_dag(user: Any, dag_id: str) -> bool:
    """The same question as the rows ask (``is_authorized_dag`` without the DAG's team would
    let a multi-team user past a team's DAG)."""
    return dag_id in readable_dag_ids(user)


def _session() -> Any:
    from airflow.utils.session import create_session

    return create_session(scoped=False)


def _given(value: str | None) -> str | None:
    """A filter value, or None when empty or a placeholder the UI left unreplaced (``{RUN_ID}``)."""
    if value is None or not value.strip() or (value.startswith("{") and value.endswith("}")):
        return None
    return value


def parse_time(value: str | None, name: str) -> float | None:
    """Epoch seconds from epoch seconds, an ISO 8601 date or date-time (UTC when no offset)."""
    value = _given(value)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(422, f"{name}: expected epoch seconds or an ISO 8601 date/time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_map_index(value: str | None, task_id: str | None) -> int | None:
    """The map index; an unmapped task instance's tab leaves ``{MAP_INDEX}`` unreplaced: -1."""
    if value is None or not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        return -1 if task_id is not None else None


def _ui_base_path() -> str:
    from airflow_provider_i2v.plugins.paths import configured_base_path

    return configured_base_path()


def create_app(
    live: LiveStatus | None = None, session_factory: Callable[[], AbstractContextManager[Any]] | None = None
) -> FastAPI:
    """The plugin's app; one :class:`LiveStatus` (cache, shared client) per app.

    ``session_factory`` opens a metadata database session (Airflow's by default).
    """
    open_session = session_factory or _session
    app = FastAPI(
        title="Video generations (airflow-provider-i2v)",
        description="What the provider's operators generated, cost and failed, per DAG the user may read.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.live = live or LiveStatus()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/api/generations")
    async def generations(
        user: User,
        dag_id: str | None = None,
        run_id: str | None = None,
        task_id: str | None = None,
        map_index: str | None = None,
        status: Annotated[list[str] | None, Query()] = None,
        since: str | None = None,
        until: str | None = None,
        limit: Annotated[int, Query(ge=1, le=rows.MAX_PAGE_SIZE)] = rows.DEFAULT_PAGE_SIZE,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        live: bool = True,
    ) -> dict[str, Any]:
        task = _given(task_id)
        filters = Filters(
            dag_id=_given(dag_id),
            run_id=_given(run_id),
            task_id=task,
            map_index=parse_map_index(map_index, task),
            statuses=frozenset(s for s in (status or []) if s),
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
        )
        request = rows.PageRequest(filters=filters, limit=limit, offset=offset)

        def load() -> dict[str, Any]:
            dag_ids = readable_dag_ids(user)
            with open_session() as session:
                return rows.page(session, dag_ids, request)

        answer = await run_in_threadpool(load)
        answer["ui_base"] = _ui_base_path()
        if live:
            await _add_live(app.state.live, answer["rows"])
        return answer

    @app.get("/api/file")
    def kept_file(
        user: User,
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: int = -1,
        item: Annotated[int | None, Query(ge=0)] = None,
        n: Annotated[int, Query(ge=0, le=1000)] = 0,
    ) -> FileResponse:
        if not may_read_dag(user, dag_id):
            raise HTTPException(404, "no such kept file")
        with open_session() as session:
            from airflow_provider_i2v.plugins.store import one_row

            stored = one_row(
                session,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=map_index,
                key=rows.key_of(item),
            )
        entry = next((g.entry for g in expand(stored) if g.item == item), None) if stored else None
        files = rows.files_of(entry)
        kept = files[n] if n < len(files) and isinstance(files[n], dict) else {}
        path = rows.local_path(kept.get("uri"))
        if path is None or not os.path.isfile(path):
            raise HTTPException(404, "no such kept file")
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type)

    return app


async def _add_live(live: LiveStatus, page_rows: list[dict[str, Any]]) -> None:
    """Add ``live`` to the page's rendering rows (those whose record has a connection and an id)."""
    wanted = [
        (r["conn_id"], r["generation_id"])
        for r in page_rows
        if r["status"] == "submitted" and r["conn_id"] and r["generation_id"]
    ]
    if not wanted:
        return
    found = await live.lookup(wanted)
    for r in page_rows:
        if r["status"] != "submitted":
            continue
        state = found.get((r["conn_id"], r["generation_id"]))
        if state is not None:
            r["live"] = state.as_dict()
