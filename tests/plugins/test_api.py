"""The page's JSON API over real ``task_state_store`` rows (SQLite), with a fake auth manager."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.plugins.conftest import FakeAuthManager, MetadataDB, entry, make_client

pytestmark = pytest.mark.timeout(60)

DAY1 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC).timestamp()


def seed(db: MetadataDB) -> None:
    """Two single tasks, a batch of three items (one chunk), rows of other keys and other DAGs."""
    db.put(
        "dag_a",
        "run1",
        "generate",
        "i2v_generation",
        entry(
            "completed",
            generation_id="g-a0",
            submitted_at=DAY1,
            finished_at=DAY1 + 30,
            render_seconds=28.5,
            cost="0.2800",
            video_urls=["http://127.0.0.1:9/v.mp4"],
        ),
        map_index=0,
    )
    db.put(
        "dag_a",
        "run1",
        "generate",
        "i2v_generation",
        entry(
            "failed",
            generation_id="g-a1",
            submitted_at=DAY1 + 60,
            finished_at=DAY1 + 90,
            cost="0.1",
            error={"code": "1026", "message": "content moderation"},
        ),
        map_index=1,
    )
    db.put(
        "dag_b",
        "run2",
        "batch",
        "i2v_batch/0",
        {
            "0": entry("completed", generation_id="g-b0", submitted_at=DAY2, cost="0.2800"),
            "1": entry("submitted", generation_id="g-b1", submitted_at=DAY2 + 1),
            "2": entry("uncertain", generation_id=None, submitted_at=DAY2 + 2, uncertain_creates=2),
        },
    )
    db.put("dag_a", "run1", "watch", "i2v_sensor", {"status": "completed"})  # not a generation
    db.put("dag_secret", "run9", "generate", "i2v_generation", entry("completed", cost="9.99"))


def get(client: object, **params: object) -> dict:
    response = client.get("/api/generations", params={"live": "false", **params})  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return response.json()


def test_one_row_per_generation_single_and_batch_items(db: MetadataDB, auth: FakeAuthManager) -> None:
    seed(db)
    data = get(make_client(db, "alice"))
    assert data["total"] == 5
    by_id = {(r["dag_id"], r["map_index"], r["item"]): r for r in data["rows"]}
    assert set(by_id) == {
        ("dag_a", 0, None),
        ("dag_a", 1, None),
        ("dag_b", -1, 0),
        ("dag_b", -1, 1),
        ("dag_b", -1, 2),
    }
    failed = by_id[("dag_a", 1, None)]
    assert (failed["status"], failed["error_code"], failed["error_message"]) == (
        "failed",
        "1026",
        "content moderation",
    )
    done = by_id[("dag_a", 0, None)]
    assert (done["cost"], done["render_seconds"], done["finished_at"]) == ("0.28", 28.5, DAY1 + 30)
    assert done["preview"] == {"kind": "gateway", "url": "http://127.0.0.1:9/v.mp4"}
    assert done["ti_path"] == "/dags/dag_a/runs/run1/tasks/generate/mapped/0"
    assert by_id[("dag_b", -1, 2)]["uncertain_creates"] == 2
    assert by_id[("dag_b", -1, 0)]["ti_path"] == "/dags/dag_b/runs/run2/tasks/batch"
    # Newest first.
    assert [r["generation_id"] for r in data["rows"]][:2] == [None, "g-b1"]
    assert data["dags"] == ["dag_a", "dag_b"]


def test_totals_per_day_and_dag_with_exact_cost(db: MetadataDB, auth: FakeAuthManager) -> None:
    seed(db)
    totals = get(make_client(db, "alice"))["totals"]
    assert totals["all"] == {"count": 5, "cost": "0.66", "failures": {"1026": 1, "uncertain": 1}}
    assert Decimal(totals["all"]["cost"]) == Decimal("0.28") + Decimal("0.1") + Decimal("0.28")
    assert totals["by_day"] == [
        {"day": "2026-12-02", "count": 3, "cost": "0.28", "failures": {"uncertain": 1}},
        {"day": "2026-12-01", "count": 2, "cost": "0.38", "failures": {"1026": 1}},
    ]
    assert [(t["dag_id"], t["count"], t["cost"]) for t in totals["by_dag"]] == [
        ("dag_a", 2, "0.38"),
        ("dag_b", 3, "0.28"),
    ]


def test_filters_dag_status_time_and_task_instance(db: MetadataDB, auth: FakeAuthManager) -> None:
    seed(db)
    client = make_client(db, "alice")
    assert {r["dag_id"] for r in get(client, dag_id="dag_a")["rows"]} == {"dag_a"}
    assert [r["generation_id"] for r in get(client, status="failed")["rows"]] == ["g-a1"]
    both = get(client, status=["failed", "submitted"])
    assert {r["generation_id"] for r in both["rows"]} == {"g-a1", "g-b1"}
    assert get(client, since="2026-12-02")["total"] == 3
    assert get(client, until="2026-12-02")["total"] == 2
    assert get(client, since=str(DAY1 + 30), until=str(DAY2))["total"] == 1
    # The task instance tab: its coordinates; an unmapped one leaves {MAP_INDEX} as it is.
    tab = get(client, dag_id="dag_b", run_id="run2", task_id="batch", map_index="{MAP_INDEX}")
    assert tab["total"] == 3
    mapped = get(client, dag_id="dag_a", run_id="run1", task_id="generate", map_index="1")
    assert [r["generation_id"] for r in mapped["rows"]] == ["g-a1"]
    assert mapped["totals"]["all"]["count"] == 1
    response = client.get("/api/generations", params={"since": "yesterday"})
    assert response.status_code == 422


def test_paging_is_bounded(db: MetadataDB, auth: FakeAuthManager) -> None:
    batch = {
        str(i): entry("completed", generation_id=f"g{i:03}", submitted_at=DAY1 + i, cost="0.01")
        for i in range(100)
    }
    db.put("dag_a", "run1", "batch", "i2v_batch/0", batch)
    db.put(
        "dag_a",
        "run1",
        "batch",
        "i2v_batch/1",
        {"100": entry("completed", generation_id="g100", submitted_at=DAY1 + 100)},
    )
    client = make_client(db, "alice")
    first = get(client, limit=40)
    assert (first["total"], len(first["rows"]), first["rows"][0]["generation_id"]) == (101, 40, "g100")
    last = get(client, limit=40, offset=80)
    assert [r["generation_id"] for r in last["rows"]] == [f"g{i:03}" for i in range(20, -1, -1)]
    assert last["totals"]["all"]["cost"] == "1.00"  # totals cover every filtered row, not the page
    assert client.get("/api/generations", params={"limit": 201}).status_code == 422
    assert client.get("/api/generations", params={"offset": -1}).status_code == 422


def test_the_scan_is_bounded_and_says_so(
    db: MetadataDB, auth: FakeAuthManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_i2v.plugins import store

    for run in range(5):
        db.put(
            "dag_a",
            f"run{run}",
            "generate",
            "i2v_generation",
            entry(submitted_at=DAY1 + run),
            updated_at=datetime.fromtimestamp(DAY1 + run, tz=UTC),
        )
    monkeypatch.setattr(store, "MAX_ROWS", 3)
    data = get(make_client(db, "alice"))
    assert data["truncated"] is True
    assert [r["run_id"] for r in data["rows"]] == ["run4", "run3", "run2"]  # the newest rows


def test_users_see_only_the_dags_the_auth_manager_lets_them_read(
    db: MetadataDB, auth: FakeAuthManager
) -> None:
    seed(db)
    bob = get(make_client(db, "bob"))
    assert {r["dag_id"] for r in bob["rows"]} == {"dag_b"}
    assert bob["dags"] == ["dag_b"]
    assert [t["dag_id"] for t in bob["totals"]["by_dag"]] == ["dag_b"]
    assert get(make_client(db, "bob"), dag_id="dag_a")["total"] == 0  # asking for it is not enough
    assert get(make_client(db, "mallory"))["rows"] == []
    alice = get(make_client(db, "alice"))
    assert "dag_secret" not in {r["dag_id"] for r in alice["rows"]}
    assert auth.asked == ["bob", "bob", "mallory", "alice"]


def test_no_credentials_no_rows(db: MetadataDB, auth: FakeAuthManager) -> None:
    seed(db)
    response = make_client(db, user=None).get("/api/generations")
    assert response.status_code == 401
    assert auth.asked == []


def test_kept_file_served_only_for_a_recorded_file_the_user_may_read(
    db: MetadataDB, auth: FakeAuthManager, tmp_path: Path
) -> None:
    video = tmp_path / "kept.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    other = tmp_path / "other.mp4"
    other.write_bytes(b"not recorded")
    files = [{"uri": video.as_uri(), "size": 112, "sha256": "x", "source_url": "http://127.0.0.1:9/v.mp4"}]
    db.put(
        "dag_b",
        "run2",
        "batch",
        "i2v_batch/1",
        {"150": entry(files=files, video_urls=["http://127.0.0.1:9/v"])},
    )
    client = make_client(db, "bob")
    row = get(client)["rows"][0]
    assert row["preview"]["kind"] == "kept"
    served = client.get(row["preview"]["url"].replace("api/file", "/api/file"))
    assert served.status_code == 200
    assert served.content == video.read_bytes()
    assert served.headers["content-type"] == "video/mp4"
    ranged = client.get(
        row["preview"]["url"].replace("api/file", "/api/file"), headers={"Range": "bytes=0-3"}
    )
    assert (ranged.status_code, ranged.content) == (206, video.read_bytes()[:4])
    base = {"dag_id": "dag_b", "run_id": "run2", "task_id": "batch", "item": 150}
    assert client.get("/api/file", params={**base, "n": 1}).status_code == 404  # not recorded
    assert client.get("/api/file", params={**base, "item": 151}).status_code == 404
    assert make_client(db, "mallory").get("/api/file", params=base).status_code == 404  # may not read
    video.unlink()
    assert client.get("/api/file", params=base).status_code == 404
    gone = get(client)["rows"][0]["preview"]
    assert gone == {"kind": "gateway", "url": "http://127.0.0.1:9/v"}  # the kept copy is gone: the link


def test_the_page_and_its_assets_are_served_from_the_package(db: MetadataDB, auth: FakeAuthManager) -> None:
    client = make_client(db, "alice")
    page = client.get("/")
    assert page.status_code == 200
    assert "Video generations" in page.text
    for asset in ("static/app.js", "static/app.css", "static/theme.js"):
        assert asset in page.text
        assert client.get("/" + asset).status_code == 200
    # Nothing from the internet: every src/href is relative to the app.
    import re

    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert not url.startswith(("http:", "https:", "//")), url


def test_database_work_runs_in_a_worker_thread_never_on_the_event_loop(
    db: MetadataDB, auth: FakeAuthManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from airflow_provider_i2v.plugins import app as app_module

    where: list[str] = []

    def on_loop() -> str:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return "thread"
        return "loop"

    original_page = app_module.rows.page
    original_readable = app_module.readable_dag_ids

    def page(*args: object, **kwargs: object) -> dict:
        where.append(on_loop())
        return original_page(*args, **kwargs)  # type: ignore[arg-type]

    def readable(user: object) -> set[str]:
        where.append(on_loop())
        return original_readable(user)

    monkeypatch.setattr(app_module.rows, "page", page)
    monkeypatch.setattr(app_module, "readable_dag_ids", readable)
    seed(db)
    assert get(make_client(db, "alice"))["total"] == 5
    assert where == ["thread", "thread"]
