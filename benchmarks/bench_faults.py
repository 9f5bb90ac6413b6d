"""100 fault-injected generations: every one ends with a result, and exactly one paid creation.

Runs the operator's real deferrable path (``execute`` -> trigger on an event loop ->
``execute_complete``) against the simulator over real HTTP, with a fraction of all
gateway requests faulted (429 with Retry-After, 500/502/503, resets, dropped answers,
malformed and truncated bodies). A failed try is retried like Airflow would, with the
same ``task_state_store``, up to ``--retries`` times.

    python benchmarks/bench_faults.py [--generations 100] [--fault-rate 0.3] [--seed 1]

Prints a table: generations, results, creations, create requests, polls, faults,
task tries, wall time; exits non-zero if results or creations differ from the count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".artifacts" / "bench-airflow-home"))


def run_one(index: int, retries: int) -> tuple[dict[str, Any] | None, int, str | None]:
    """One task instance: up to ``retries + 1`` tries sharing one state store."""
    from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

    from airflow_provider_i2v.exceptions import I2VError
    from airflow_provider_i2v.operators.i2v import ImageToVideoOperator
    from dev.task_runtime import DictStateStore, make_context, run_trigger

    store = DictStateStore()
    last_error = None
    for attempt in range(1, retries + 2):
        op = ImageToVideoOperator(
            task_id=f"generate_{index}",
            first_frame_image=f"https://images.example.com/p/{index}.jpg",
            check_image_url=False,  # never fetched: the faults are the gateway's
            poll_interval=0.05,
        )
        context = make_context(store)
        try:
            try:
                return op.execute(context), attempt, None
            except TaskDeferred as deferred:
                [event] = run_trigger(deferred.trigger, timeout=120)
                return op.execute_complete(context, event), attempt, None
        except AirflowFailException as exc:
            return None, attempt, f"non-retryable: {exc}"
        except I2VError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
    return None, retries + 1, last_error


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=100)
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--retries", type=int, default=5)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument(
        "--lost-create-answers",
        type=float,
        default=0.0,
        help="fraction of creates whose answer is lost after the generation was created",
    )
    args = parser.parse_args()

    from airflow_provider_i2v.simulator import Fault, SimConfig, SimulatorServer, survivable_faults

    # Faults a client survives without paying twice; lost create answers are measured apart.
    faults = list(survivable_faults(args.fault_rate))
    if args.lost_create_answers:
        faults.insert(0, Fault("lost_create_answer", rate=args.lost_create_answers, scope="create"))
    config = SimConfig(generation_seconds=0.3, seed=args.seed, retry_after=0.05, faults=tuple(faults))
    with SimulatorServer(config) as server:
        os.environ["AIRFLOW_CONN_I2V_DEFAULT"] = json.dumps(
            {
                "conn_type": "i2v",
                "host": server.url,
                "password": "bench-key",
                "extra": {"backoff_initial": 0.02, "backoff_max": 0.2, "max_retries": 6, "timeout": 5},
            }
        )
        started = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            outcomes = list(pool.map(lambda i: run_one(i, args.retries), range(args.generations)))
        wall = time.perf_counter() - started
        stats = server.simulator.stats()
        creations = server.simulator.creations

    results = [r for r, _, _ in outcomes if r is not None]
    errors = [e for r, _, e in outcomes if r is None]
    tries = sum(t for _, t, _ in outcomes)
    ids = {r["generation_id"] for r in results}
    rows = [
        ("generations asked", args.generations),
        ("results (completed)", len(results)),
        ("distinct generation ids", len(ids)),
        ("creations (paid)", creations),
        ("creations / results", f"{creations / max(1, len(results)):.2f}"),
        ("create requests sent", stats["creates"]),
        ("status polls sent", stats["polls"]),
        (
            "requests faulted",
            f"{stats['faults']} of {stats['requests']} ({stats['faults'] / stats['requests']:.0%})",
        ),
        ("task tries (retries used)", f"{tries} ({tries - args.generations})"),
        ("wall time", f"{wall:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'figure':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print("faults by kind:", json.dumps(stats.get("faults_by_kind", {}), sort_keys=True))
    for error in errors[:10]:
        print("FAILED:", error)
    lost = stats.get("faults_by_kind", {}).get("lost_create_answer", 0)
    if lost:
        print(f"{lost} create answers were lost after creation: each cost one extra generation (unavoidable)")
    ok = len(results) == args.generations and creations == args.generations + lost
    verdict = "OK: every generation produced one result and was paid once"
    if lost:
        verdict += f" (plus the {lost} whose create answer was lost)"
    print(verdict if ok else "NOT OK")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
