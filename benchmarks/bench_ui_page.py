"""The Video generations page's API answer time at 10,000 generations, on SQLite and PostgreSQL.

Seeds Airflow's own ``task_state_store`` table (the ORM model, its indexes) with records of
the operators' shape: 7,000 single-task records and 3,000 batch items (30 rows of 100),
across 50 DAGs and 30 days, beside 3,000 rows of other keys (another provider's state, the
sensor's) that the page must skip. Then times the plugin's app in process (FastAPI's
TestClient, a user who may read every DAG, no gateway look-ups) for the queries the page
makes, and prints the median of ``--repeat`` answers per query and database.

PostgreSQL is a throw-away cluster (``initdb``/``postgres`` as the ``postgres`` user when
run as root) on a loopback port, removed at the end.

    .venv/bin/python -m benchmarks.bench_ui_page [--generations 10000] [--repeat 7] [--no-postgres]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DAGS = 50
DAYS = 30
STATUSES = ["completed"] * 85 + ["failed"] * 8 + ["submitted"] * 4 + ["timeout", "uncertain", "invalid"]
QUERIES: dict[str, dict[str, Any]] = {
    "first page (50 rows), all DAGs": {},
    "one DAG": {"dag_id": "dag_07"},
    "status failed": {"status": "failed"},
    "last 3 days": {"since": "{since}"},
    "page 100 (offset 4,950)": {"offset": 4950},
    "one task instance (tab)": {
        "dag_id": "dag_03",
        "run_id": "run_0003",
        "task_id": "generate",
        "map_index": "3",
    },
}


def record(rng: random.Random, now: float, number: int) -> dict[str, Any]:
    status = rng.choice(STATUSES)
    submitted = now - rng.uniform(0, DAYS * 86400)
    entry: dict[str, Any] = {
        "generation_id": f"{number:020d}",
        "request": f"{rng.getrandbits(256):064x}",
        "gateway": "http://127.0.0.1:9",
        "conn_id": "i2v_default",
        "model": "I2V-01-live",
        "image": "https://images.example.com/product.jpg",
        "uncertain_creates": 1 if status == "uncertain" else 0,
        "submitted_at": submitted,
        "status": status,
    }
    if status != "submitted":
        entry["finished_at"] = submitted + rng.uniform(20, 120)
    if status == "completed":
        entry["render_seconds"] = round(rng.uniform(20, 110), 1)
        entry["cost"] = "0.2800"
        entry["video_urls"] = [f"http://127.0.0.1:9/files/{number}.mp4?sig=abc"]
        entry["files"] = [
            {
                "uri": f"file:///data/out/{number}.mp4",
                "size": 900_000,
                "sha256": "0" * 64,
                "source_url": entry["video_urls"][0],
            }
        ]
    if status in ("failed", "timeout", "invalid"):
        entry["error"] = {
            "code": rng.choice(["1026", "1004", "2013", None]),
            "message": "the gateway said no",
        }
    return entry


def seed(engine: Any, generations: int) -> None:
    import airflow.models.dagrun  # noqa: F401  (the table task_state_store's foreign key names)
    from airflow.models.task_state_store import TaskStateStoreModel
    from sqlalchemy import text

    with engine.begin() as conn:  # the one column of dag_run the foreign key needs
        conn.execute(text("CREATE TABLE dag_run (id INTEGER PRIMARY KEY)"))
    TaskStateStoreModel.__table__.create(engine)
    rng = random.Random(7)
    now = time.time()
    rows: list[dict[str, Any]] = []
    singles = generations * 7 // 10
    batch_items = generations - singles

    def add(dag: int, run: int, task: str, map_index: int, key: str, value: Any, when: float) -> None:
        rows.append(
            {
                "dag_run_id": dag * 10_000 + run,
                "dag_id": f"dag_{dag:02d}",
                "run_id": f"run_{run:04d}",
                "task_id": task,
                "map_index": map_index,
                "key": key,
                "value": json.dumps(value),
                "updated_at": datetime.fromtimestamp(when, tz=UTC),
                "expires_at": None,
            }
        )

    for number in range(singles):
        entry = record(rng, now, number)
        dag, run = number % DAGS, number // (DAGS * 10)
        add(dag, run, "generate", number // DAGS % 10, "i2v_generation", entry, entry.get("finished_at", now))
    for chunk in range((batch_items + 99) // 100):
        items = {
            str(i): record(rng, now, singles + chunk * 100 + i)
            for i in range(min(100, batch_items - chunk * 100))
        }
        add(chunk % DAGS, 9000 + chunk, "batch", -1, "i2v_batch/0", items, now - rng.uniform(0, DAYS * 86400))
    for number in range(3000):  # other keys: not generations
        add(
            number % DAGS,
            8000 + number,
            "other",
            -1,
            "i2v_sensor" if number % 2 else "their_state",
            {"x": number},
            now - rng.uniform(0, DAYS * 86400),
        )
    with engine.begin() as conn:
        run_ids = sorted({row["dag_run_id"] for row in rows})
        conn.execute(text("INSERT INTO dag_run (id) VALUES (:id)"), [{"id": i} for i in run_ids])
        for start in range(0, len(rows), 1000):
            conn.execute(TaskStateStoreModel.__table__.insert(), rows[start : start + 1000])


@dataclass
class Result:
    database: str
    query: str
    median_ms: float
    worst_ms: float
    total: int


def time_queries(engine: Any, database: str, repeat: int) -> list[Result]:
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient
    from sqlalchemy.orm import sessionmaker

    from airflow_provider_i2v.plugins import app as app_module

    dag_ids = {f"dag_{d:02d}" for d in range(DAGS)}

    class Everyone:
        def get_authorized_dag_ids(self, **_: Any) -> set[str]:
            return dag_ids

    app_module.auth_manager = lambda: Everyone()  # type: ignore[assignment]
    maker = sessionmaker(bind=engine)

    @contextmanager
    def session() -> Iterator[Any]:
        s = maker()
        try:
            yield s
        finally:
            s.close()

    app = app_module.create_app(session_factory=session)
    app.dependency_overrides[get_user] = lambda: object()
    client = TestClient(app)
    since = (datetime.now(tz=UTC) - timedelta(days=3)).isoformat()
    results = []
    for name, params in QUERIES.items():
        query = {k: (since if v == "{since}" else v) for k, v in params.items()}
        query["live"] = "false"
        times = []
        total = 0
        for _ in range(repeat + 1):
            start = time.perf_counter()
            response = client.get("/api/generations", params=query)
            times.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
            total = response.json()["total"]
        times = times[1:]  # the first warms the connection pool and the imports
        results.append(Result(database, name, statistics.median(times), max(times), total))
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on loopback; yields its SQLAlchemy URL."""
    initdb = shutil.which("initdb") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None
    )
    if initdb is None:
        raise RuntimeError("no initdb on PATH or in /usr/lib/postgresql/*/bin")
    bin_dir = Path(initdb).resolve().parent
    prefix: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="bench-ui-pg-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    data = directory / "data"
    port = free_port()
    plain = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    subprocess.run(
        [
            *prefix,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--no-instructions",
        ],
        check=True,
        capture_output=True,
        env=plain,
        timeout=120,
    )
    server = subprocess.Popen(
        [
            *prefix,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=plain,
    )
    try:
        deadline = time.monotonic() + 60
        while (
            subprocess.run(
                [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
                env=plain,
                check=False,
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("PostgreSQL did not start")
            time.sleep(0.2)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(directory, ignore_errors=True)


def run_on(database: str, url: str, generations: int, repeat: int) -> list[Result]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        seed(engine, generations)
        return time_queries(engine, database, repeat)
    finally:
        engine.dispose()


def print_table(results: list[Result], generations: int) -> None:
    print(f"\nVideo generations API answer time, {generations:,} generations in task_state_store (ms)")
    print(f"{'query':<34} {'database':<11} {'median':>8} {'worst':>8} {'matching':>9}")
    for r in results:
        print(f"{r.query:<34} {r.database:<11} {r.median_ms:>8.1f} {r.worst_ms:>8.1f} {r.total:>9,}")
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load} (other work on the machine slows every figure)"
    )
    slowest = max(results, key=lambda r: r.worst_ms)
    print(
        f"slowest answer: {slowest.worst_ms:.0f} ms ({slowest.query}, {slowest.database}); target < 1000 ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # the test client logs every request
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-ui-home-"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        results += run_on("SQLite", f"sqlite:///{tmp}/metadata.db", args.generations, args.repeat)
    if not args.no_postgres:
        with postgres() as url:
            results += run_on("PostgreSQL", url, args.generations, args.repeat)
    print_table(results, args.generations)


if __name__ == "__main__":
    main()
