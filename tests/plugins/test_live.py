"""Live status of a page's rendering rows, from the gateway simulator on loopback."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_i2v.plugins.live import Live, LiveStatus
from tests.conftest import API_KEY
from tests.plugins.conftest import FakeAuthManager, MetadataDB, entry, make_client

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rendering(db: MetadataDB, conn_id: str, generation_ids: list[str]) -> None:
    now = time.time()
    for number, generation_id in enumerate(generation_ids):
        db.put(
            "dag_a",
            "run1",
            "generate",
            "i2v_generation",
            entry("submitted", generation_id=generation_id, conn_id=conn_id, submitted_at=now - number),
            map_index=number,
        )


def create(count: int) -> list[str]:
    from airflow_provider_i2v.hooks.i2v import I2VHook
    from airflow_provider_i2v.protocol import GenerationRequest

    request = GenerationRequest(first_frame_image="https://images.example.com/cat.jpg", prompt="blink")
    return [I2VHook().create_generation(request).generation_id for _ in range(count)]


def polls(simulator: Any) -> int:
    return int(simulator.stats()["polls"])


def test_rendering_rows_get_progress_from_the_gateway_and_answers_are_cached(
    db: MetadataDB, auth: FakeAuthManager, simulator: Any, i2v_conn: str
) -> None:
    simulator.configure(generation_seconds=120)
    ids = create(3)
    rendering(db, i2v_conn, ids)
    db.put(
        "dag_a", "run1", "done", "i2v_generation", entry("completed", generation_id=ids[0], conn_id=i2v_conn)
    )
    clock = Clock()
    client = make_client(db, "alice", live=LiveStatus(clock=clock))
    before = polls(simulator)

    response = client.get("/api/generations")
    assert response.status_code == 200
    assert API_KEY not in response.text
    rows = response.json()["rows"]
    live = {r["generation_id"]: r.get("live") for r in rows if r["status"] == "submitted"}
    assert set(live) == set(ids)
    for state in live.values():
        assert state is not None
        assert state["status"] == "running"
        assert state["error"] is None
        assert state["progress"] is not None
    assert not any("live" in r for r in rows if r["status"] == "completed")
    assert polls(simulator) - before == 3  # the three rendering rows, not the completed one

    client.get("/api/generations")  # within the cache's lifetime: no new look-up
    assert polls(simulator) - before == 3
    clock.now += 11  # past it: looked up again
    client.get("/api/generations")
    assert polls(simulator) - before == 6


def test_only_the_rows_of_the_page_are_looked_up_and_at_most_max_lookups(
    db: MetadataDB, auth: FakeAuthManager, simulator: Any, i2v_conn: str
) -> None:
    simulator.configure(generation_seconds=120)
    rendering(db, i2v_conn, create(5))
    client = make_client(db, "alice", live=LiveStatus(max_lookups=3))
    before = polls(simulator)
    page = client.get("/api/generations", params={"limit": 2}).json()
    assert page["total"] == 5
    assert polls(simulator) - before == 2
    everything = client.get("/api/generations", params={"limit": 5}).json()
    assert polls(simulator) - before == 2 + 1  # two cached, one more within the bound of three
    assert sum("live" in r for r in everything["rows"]) == 3


def test_a_slow_gateway_is_cut_off_by_the_total_time_bound(
    db: MetadataDB, auth: FakeAuthManager, simulator: Any, i2v_conn: str
) -> None:
    from airflow_provider_i2v.simulator import Fault

    simulator.configure(generation_seconds=120)
    ids = create(2)
    simulator.configure(slow_seconds=20, faults=[Fault("slow", scope="poll")])
    rendering(db, i2v_conn, ids)
    client = make_client(db, "alice", live=LiveStatus(total_timeout=0.5))
    rows = client.get("/api/generations").json()["rows"]
    assert [r["live"]["error"] for r in rows] == ["no answer in time", "no answer in time"]
    assert [r["status"] for r in rows] == ["submitted", "submitted"]


def test_an_unknown_connection_is_reported_without_its_details(
    db: MetadataDB, auth: FakeAuthManager, simulator: Any, i2v_conn: str
) -> None:
    rendering(db, "no_such_connection", ["gen0000000000000009"])
    rows = make_client(db, "alice").get("/api/generations").json()["rows"]
    assert rows[0]["live"]["status"] is None
    assert rows[0]["live"]["error"].startswith("look-up failed (")


def test_lookups_run_concurrently_within_the_bound_and_share_one_call_per_id() -> None:
    running = 0
    most = 0
    calls: list[str] = []

    async def fetch(conn_id: str, generation_id: str) -> Live:
        nonlocal running, most
        calls.append(generation_id)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return Live("running", 0.5, None, 0.0)

    live = LiveStatus(concurrency=3, fetch=fetch)

    async def main() -> None:
        wanted = [("c", f"g{i}") for i in range(10)]
        first, second = await asyncio.gather(live.lookup(wanted), live.lookup(wanted))
        assert len(first) == len(second) == 10

    asyncio.run(main())
    assert most == 3
    assert sorted(calls) == sorted(f"g{i}" for i in range(10))  # the second request waited on the first


def test_the_concurrency_bound_holds_across_requests() -> None:
    running = 0
    most = 0

    async def fetch(conn_id: str, generation_id: str) -> Live:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return Live("running", 0.5, None, 0.0)

    live = LiveStatus(concurrency=3, fetch=fetch)

    async def main() -> None:
        pages = [[("c", f"p{page}-g{i}") for i in range(10)] for page in range(4)]
        answers = await asyncio.gather(*(live.lookup(ids) for ids in pages))
        assert [len(answer) for answer in answers] == [10, 10, 10, 10]

    asyncio.run(main())
    assert most == 3
