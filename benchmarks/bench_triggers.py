"""CPU cost per status poll on the triggerer: the provider's trigger beside two baselines.

N generations render on a simulator running in its own process; on one event loop in
this process, N pollers check them every ``--interval`` seconds for ``--seconds``:

* ``bare httpx, pool N``: one shared ``httpx.AsyncClient`` with the provider's pool
  bound, a GET per poll, nothing else: the floor any trigger pays;
* ``I2VTaskTrigger``: the provider's trigger (connection resolved once, shared client,
  back-off gate, answer parsing, progress logging on change);
* ``bare httpx, unbounded pool``: the same with httpx's unbounded pool (why the
  provider bounds it: httpcore scans the whole pool for every request);
* ``client per poll``: the anti-pattern, a new ``AsyncClient`` for every poll.

Prints polls, CPU seconds (this process only: the simulator is elsewhere), CPU ms per
poll and the ratio to the bare loop, plus the worst event-loop lag seen by a 10 ms ticker.

    python benchmarks/bench_triggers.py [--triggers 200] [--seconds 8] [--interval 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

import httpx

from airflow_provider_i2v.protocol import CREATE_PATH, GenerationRequest, auth_header, poll_path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".artifacts" / "bench-airflow-home"))
KEY = "bench-key"


def polls_so_far(url: str) -> int:
    return int(httpx.get(f"{url}/_sim/stats").json()["polls"])


async def lag_monitor(stop: asyncio.Event) -> float:
    """Worst delay of a 10 ms ticker: how long the loop was blocked at most."""
    worst = 0.0
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst = max(worst, time.perf_counter() - before - 0.01)
    return worst


async def measure(run: Callable[[], Awaitable[None]]) -> tuple[float, float, float]:
    stop = asyncio.Event()
    monitor = asyncio.create_task(lag_monitor(stop))
    cpu, wall = time.process_time(), time.perf_counter()
    await run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    stop.set()
    return cpu, wall, await monitor


def http_pollers(
    url: str, ids: list[str], seconds: float, interval: float, *, pool: int | None, shared: bool = True
) -> Callable[[], Awaitable[None]]:
    """Plain httpx pollers: one shared client with ``pool`` connections, or a client per poll."""

    async def run() -> None:
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool or len(ids))
        shared_client = httpx.AsyncClient(base_url=url, limits=limits)
        deadline = time.monotonic() + seconds

        async def poll(generation_id: str) -> None:
            while time.monotonic() < deadline:
                client = shared_client if shared else httpx.AsyncClient(base_url=url)
                response = await client.get(poll_path(generation_id), headers=auth_header(KEY))
                response.json()
                if not shared:
                    await client.aclose()
                await asyncio.sleep(interval)

        async with shared_client:
            await asyncio.gather(*(poll(g) for g in ids))

    return run


def triggers(url: str, ids: list[str], seconds: float, interval: float) -> Callable[[], Awaitable[None]]:
    from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

    async def run() -> None:
        deadline = time.time() + seconds

        async def one(generation_id: str) -> None:
            trigger = I2VTaskTrigger(
                generation_id=generation_id,
                i2v_conn_id="i2v_default",
                poll_interval=interval,
                deadline=deadline,
            )
            async for event in trigger.run():
                assert event.payload["status"] == "timeout", event.payload

        await asyncio.gather(*(one(g) for g in ids))

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)  # the timeout at the end is expected; keep the table readable
    from dev.demo import SimulatorProcess

    simulator = SimulatorProcess(REPO / ".artifacts" / "bench-simulator.log", generation_seconds=100_000)
    url = simulator.start().url
    try:
        os.environ["AIRFLOW_CONN_I2V_DEFAULT"] = json.dumps(
            {"conn_type": "i2v", "host": url, "password": KEY}
        )
        body = GenerationRequest(first_frame_image="https://images.example.com/p.jpg").to_body()
        with httpx.Client(base_url=url, headers=auth_header(KEY)) as client:
            ids = [client.post(CREATE_PATH, json=body).json()["id"] for _ in range(args.triggers)]

        from airflow_provider_i2v.hooks.clients import POOL_CONNECTIONS

        variants: list[tuple[str, Callable[..., Callable[[], Awaitable[None]]]]] = [
            (f"bare httpx, pool {POOL_CONNECTIONS}", partial(http_pollers, pool=POOL_CONNECTIONS)),
            ("I2VTaskTrigger", triggers),
            ("bare httpx, unbounded pool", partial(http_pollers, pool=None)),
            ("client per poll", partial(http_pollers, pool=None, shared=False)),
        ]
        rows = []
        for name, factory in variants:
            before = polls_so_far(url)
            cpu, wall, lag = asyncio.run(measure(factory(url, ids, args.seconds, args.interval)))
            polls = polls_so_far(url) - before
            rows.append((name, polls, cpu, wall, lag))
    finally:
        simulator.stop()

    floor = rows[0][2] / max(1, rows[0][1])
    print(
        f"{args.triggers} pollers, every {args.interval} s for {args.seconds} s, simulator in its own process"
    )
    print(f"{'variant':<28}{'polls':>8}{'CPU s':>9}{'CPU ms/poll':>13}{'x bare':>8}{'max loop lag':>14}")
    for name, polls, cpu, _wall, lag in rows:
        per = cpu / max(1, polls)
        print(f"{name:<28}{polls:>8}{cpu:>9.2f}{per * 1000:>13.2f}{per / floor:>8.2f}{lag * 1000:>11.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
