"""The anchors: N bare pollers in a process of their own, as cheap as a client can be.

    python -m benchmarks.bare VARIANT URL IDS_FILE INTERVAL SECONDS

* ``httpx``: one shared keep-alive ``httpx.AsyncClient`` (32 connections, the
  sync client's bound; the provider's async LIFO pool may open 64), one
  GET and ``response.json()`` per poll, ``asyncio.sleep(interval)`` between polls: the
  floor any httpx-based trigger pays for the same polls;
* ``httpcore``: the same over one ``httpcore.AsyncConnectionPool`` (what httpx drives);
* ``stream``: raw asyncio streams, one keep-alive connection per poller, a hand-written
  HTTP/1.1 GET: what Python's event loop itself costs per poll;
* ``trigger`` / ``sleep``: the provider's :class:`I2VTaskTrigger` / :class:`benchmarks.noop.
  SleepTrigger` run on this process's own loop, with no triggerer around them (the smoke
  run's stand-in for a real ``airflow triggerer``; the connection comes from
  ``AIRFLOW_CONN_I2V_DEFAULT``).

It prints ``ready`` once every poller has polled once, then runs until SECONDS have
passed since start. The benchmark reads this process's CPU from /proc over its window.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

KEY = "bench-key"


async def _httpx(url: str, ids: list[str], interval: float, until: float, ready: asyncio.Event) -> None:
    import httpx

    from airflow_provider_i2v.hooks.clients import POOL_CONNECTIONS

    limits = httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=POOL_CONNECTIONS)
    headers = {"Authorization": f"Bearer {KEY}"}
    # No pool timeout: 3,000 pollers queue for 32 connections at start-up, and a poller whose
    # request timed out in the queue would stop polling (the anchor would count almost no polls).
    timeout = httpx.Timeout(30.0, pool=None)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def poll(generation_id: str, first: asyncio.Future[None]) -> None:
            path = f"/model/v1/generation/task/{generation_id}"
            while time.time() < until:
                response = await client.get(path, headers=headers)
                response.json()
                if not first.done():
                    first.set_result(None)
                await asyncio.sleep(interval)

        await _run(ids, poll, ready, interval)


async def _httpcore(url: str, ids: list[str], interval: float, until: float, ready: asyncio.Event) -> None:
    import httpcore

    from airflow_provider_i2v.hooks.clients import POOL_CONNECTIONS

    headers = [(b"Authorization", f"Bearer {KEY}".encode()), (b"Host", urlsplit(url).netloc.encode())]
    async with httpcore.AsyncConnectionPool(max_connections=POOL_CONNECTIONS) as pool:

        async def poll(generation_id: str, first: asyncio.Future[None]) -> None:
            target = f"{url}/model/v1/generation/task/{generation_id}"
            while time.time() < until:
                response = await pool.request("GET", target, headers=headers)
                json.loads(response.content)
                if not first.done():
                    first.set_result(None)
                await asyncio.sleep(interval)

        await _run(ids, poll, ready, interval)


async def _stream(url: str, ids: list[str], interval: float, until: float, ready: asyncio.Event) -> None:
    parts = urlsplit(url)

    async def poll(generation_id: str, first: asyncio.Future[None]) -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        request = (
            f"GET /model/v1/generation/task/{generation_id} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {KEY}\r\n\r\n"
        ).encode()
        try:
            while time.time() < until:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                json.loads(await reader.readexactly(length))
                if not first.done():
                    first.set_result(None)
                await asyncio.sleep(interval)
        finally:
            writer.close()

    await _run(ids, poll, ready, interval)


async def _run(ids: list[str], poll: Any, ready: asyncio.Event, interval: float) -> None:
    """Start the pollers spread over one interval (as triggers started at different times are)."""
    loop = asyncio.get_running_loop()
    firsts = [loop.create_future() for _ in ids]

    async def staggered(index: int, generation_id: str, first: asyncio.Future[None]) -> None:
        await asyncio.sleep(interval * index / len(ids))
        await poll(generation_id, first)

    tasks = [
        asyncio.create_task(staggered(i, g, f)) for i, (g, f) in enumerate(zip(ids, firsts, strict=True))
    ]
    await asyncio.gather(*firsts)
    ready.set()
    await asyncio.gather(*tasks)


async def _trigger(url: str, ids: list[str], interval: float, until: float, ready: asyncio.Event) -> None:
    from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger

    async def poll(generation_id: str, first: asyncio.Future[None]) -> None:
        first.set_result(None)
        trigger = I2VTaskTrigger(
            generation_id=generation_id,
            i2v_conn_id="i2v_default",
            poll_interval=interval,
            deadline=until,
            started_at=time.time(),
        )
        async for _ in trigger.run():
            return

    await _run(ids, poll, ready, interval)


async def _sleep(url: str, ids: list[str], interval: float, until: float, ready: asyncio.Event) -> None:
    from benchmarks.noop import SleepTrigger

    async def poll(generation_id: str, first: asyncio.Future[None]) -> None:
        first.set_result(None)
        async for _ in SleepTrigger(interval=interval, deadline=until).run():
            return

    await _run(ids, poll, ready, interval)


VARIANTS = {"httpx": _httpx, "httpcore": _httpcore, "stream": _stream, "trigger": _trigger, "sleep": _sleep}


async def _main(variant: str, url: str, ids: list[str], interval: float, seconds: float) -> None:
    ready = asyncio.Event()
    until = time.time() + seconds

    async def announce() -> None:
        await ready.wait()
        print("ready", flush=True)

    announcer = asyncio.create_task(announce())
    await VARIANTS[variant](url, ids, interval, until, ready)
    await announcer


def main(argv: list[str]) -> int:
    import logging

    logging.disable(logging.WARNING)  # the stand-in triggers' timeouts at the end are expected
    variant, url, ids_file, interval, seconds = argv
    ids = json.loads(Path(ids_file).read_text())
    asyncio.run(_main(variant, url, ids, float(interval), float(seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
