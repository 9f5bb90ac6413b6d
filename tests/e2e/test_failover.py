"""A triggerer dies while generations render: the other one takes its triggers over.

Runs where two triggerers do (``--airflow-mode=celery``). Eight mapped generations defer
and are polled, spread over both triggerers by Airflow itself. Who polls what is read
twice and must agree: from the database (``trigger.triggerer_id``, through the REST API)
and from the wire (the simulator's record of each poll's client port, owned by one
triggerer's process). The triggerer holding more triggers is SIGKILLed with everything it
started, like a crashed machine. Asserted: each of its triggers is reassigned to the
survivor and polled by it; every generation completes; the DAG run succeeds on the first
try of every task; and the simulator created each generation exactly once (the trigger
only polls, never submits).

How long the move takes is Airflow's business, and predictable from its settings.
``airflow/jobs/job.py`` lines 69-80 (``health_check_threshold``) define when a job counts
as alive: within ``heartrate * 2.1`` (``grace_multiplier = 2.1``) of its last heartbeat,
except for the scheduler, the triggerer and the dag-processor, which have a threshold of
their own; a triggerer's is ``[triggerer] triggerer_health_check_threshold``.
``airflow/models/trigger.py`` lines 402-406 (``Trigger.assign_unassigned``) let a
triggerer claim a trigger whose triggerer's ``latest_heartbeat`` is older than that; each
triggerer claims once per loop (``airflow/jobs/triggerer_job_runner.py`` lines 697-702,
``run_once``: a loop waits up to 1 s for its trigger runner). The dead triggerer's last
heartbeat came at most ``[triggerer] job_heartbeat_sec`` plus one loop before the kill,
so the survivor's first poll of a moved generation falls between ``threshold -
job_heartbeat_sec - 1 s`` and ``threshold + 2 s`` after the kill, plus what a loaded
machine needs to start the moved triggers (allowed: 10 s), and never earlier than
``threshold`` after the dead triggerer's last heartbeat (its job row keeps it). A
triggerer's loop can stall for seconds while its runner keeps polling (the first trigger
it serves builds its in-process execution API: 12-13 s here), so the kill waits for a
fresh heartbeat of the victim.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dev.airflow_stack import AirflowStack, Mode, wait_until
from dev.airflow_stack.readiness import parse_time

pytestmark = pytest.mark.timeout(900)

DAG_ID = "e2e_triggerer_failover"
GENERATIONS = 8
RENDER_SECONDS = 90.0
POLL_INTERVAL = 2.0
#: Seconds a triggerer loop may wait for its runner (``_service_subprocess(1)``).
LOOP_SECONDS = 1.0
#: What a loaded 2-core machine may add to start the moved triggers and poll.
STARTUP_SLACK = 10.0

DAG = f'''
from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from airflow_provider_i2v.operators.i2v import ImageToVideoOperator


@dag(dag_id="{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def failover():
    ImageToVideoOperator.partial(
        task_id="generate",
        prompt="{{{{ run_id }}}}",
        poll_interval={POLL_INTERVAL},
        retries=0,
        check_image_url=False,  # never fetched: the gateway is the simulator
    ).expand(first_frame_image=[f"https://images.example.com/f/{{i}}.jpg" for i in range({GENERATIONS})])


failover()
'''


@pytest.fixture(scope="session")
def two_triggerers(airflow_mode: Mode) -> None:
    """Skips before any stack starts unless the session's mode runs two triggerers."""
    if airflow_mode.triggerers < 2:
        pytest.skip(f"needs two triggerers (--airflow-mode=celery); this session runs {airflow_mode.name}")


@pytest.fixture
def restart_killed_triggerer(airflow_stack: AirflowStack) -> Iterator[None]:
    """The session's stack is shared: start again whichever triggerer the test killed."""
    yield
    for name in airflow_stack.triggerers:
        if not airflow_stack.is_running(name):
            airflow_stack.start_component(name)


def _setting(stack: AirflowStack, key: str) -> float:
    """A ``[triggerer]`` setting as Airflow resolves it for the stack's components."""
    return float(stack.cli("config", "get-value", "triggerer", key).stdout.strip())


def _last_heartbeat(stack: AirflowStack, job_id: int) -> float:
    [job] = [j for j in stack.client.jobs("TriggererJob") if j["id"] == job_id]
    beat = parse_time(job["latest_heartbeat"])
    assert beat is not None, job
    return beat.timestamp()


def _generate_tis(stack: AirflowStack, run_id: str) -> list[dict[str, Any]]:
    return [t for t in stack.client.task_instances(DAG_ID, run_id) if t["task_id"] == "generate"]


def _holder(ti: dict[str, Any]) -> int | None:
    trigger = ti.get("trigger") or {}
    return trigger.get("triggerer_id")


def _port_owners(stack: AirflowStack, server_port: int) -> dict[int, str]:
    """Local port of each live connection to the simulator -> the triggerer whose process has it."""
    owners: dict[int, str] = {}
    for name in stack.triggerers:
        for process in stack.process_tree(name):
            try:
                connections = process.net_connections(kind="tcp")
            except Exception:  # the process ended meanwhile
                continue
            for conn in connections:
                if conn.raddr and conn.raddr.port == server_port:
                    owners[conn.laddr.port] = name
    return owners


def _pollers(stack: AirflowStack, simulator: Any, server_port: int, since: float) -> dict[str, set[str]]:
    """Generation id -> the triggerers whose polls since ``since`` came over a still-open connection."""
    owners = _port_owners(stack, server_port)
    found: dict[str, set[str]] = {}
    for record in simulator.requests:
        if record.endpoint == "poll" and record.at > since and record.client:
            owner = owners.get(int(record.client.rsplit(":", 1)[1]))
            if owner is not None:
                found.setdefault(str(record.generation_id), set()).add(owner)
    return found


def test_killed_triggerer_triggers_move_to_the_survivor_and_nothing_is_created_twice(
    two_triggerers: None,
    airflow_stack: AirflowStack,
    restart_killed_triggerer: None,
    write_dag: Callable[[str, str], Path],
    e2e_simulator: Any,
    e2e_simulator_server: Any,
    i2v_connection: str,
) -> None:
    stack, api = airflow_stack, airflow_stack.client
    sim_port = int(e2e_simulator_server.port)
    heartbeat = _setting(stack, "job_heartbeat_sec")
    threshold = _setting(stack, "triggerer_health_check_threshold")
    earliest = threshold - heartbeat - LOOP_SECONDS
    latest = threshold + 2 * LOOP_SECONDS + STARTUP_SLACK
    e2e_simulator.configure(generation_seconds=RENDER_SECONDS)
    write_dag(DAG_ID, DAG)
    api.wait_for_dag(DAG_ID, timeout=120)
    api.unpause(DAG_ID)
    run_id = api.trigger(DAG_ID)["dag_run_id"]

    def all_deferred_and_polled() -> list[dict[str, Any]] | None:
        tis = _generate_tis(stack, run_id)
        if any(t["state"] in ("failed", "upstream_failed", "success") for t in tis):
            raise AssertionError(f"a task ended before the kill: {api.describe_failures(DAG_ID, run_id)}")
        if len(tis) != GENERATIONS or any(t["state"] != "deferred" or _holder(t) is None for t in tis):
            return None
        polled = {r.generation_id for r in e2e_simulator.requests if r.endpoint == "poll"}
        return tis if len(polled) == GENERATIONS else None

    wait_until(
        all_deferred_and_polled,
        timeout=240,
        interval=0.5,
        description=f"all {GENERATIONS} generations deferred and polled",
        details=lambda: str([(t["map_index"], t["state"], _holder(t)) for t in _generate_tis(stack, run_id)]),
    )
    jobs = {stack.triggerer_job_id(name): name for name in stack.triggerers}
    gen_of = {i: api.xcom(DAG_ID, run_id, "generate", "generation_id", i) for i in range(GENERATIONS)}
    # The database's word checked against the wire's: who sends each generation's polls.
    view: dict[str, Any] = {}

    def database_and_wire_agree() -> bool:
        view["tis"] = tis = _generate_tis(stack, run_id)
        view["held"] = {gen_of[t["map_index"]]: {jobs.get(_holder(t) or 0, f"job {_holder(t)}")} for t in tis}
        view["polled"] = _pollers(stack, e2e_simulator, sim_port, since=time.time() - 3 * POLL_INTERVAL)
        return bool(view["polled"] == view["held"])

    wait_until(
        database_and_wire_agree,
        timeout=90,
        interval=1.0,
        description="every generation polled by the triggerer the database names, and only by it",
        details=lambda: f"polled by {view.get('polled')}, held by {view.get('held')}",
    )
    held = {
        name: sorted(t["map_index"] for t in view["tis"] if _holder(t) == job) for job, name in jobs.items()
    }
    victim = max(stack.triggerers, key=lambda name: len(held[name]))
    [survivor] = [name for name in stack.triggerers if name != victim]
    moved = held[victim]
    moved_ids = {gen_of[i] for i in moved}
    victim_job, survivor_job = stack.triggerer_job_id(victim), stack.triggerer_job_id(survivor)
    # A triggerer's loop can stall for seconds without a heartbeat while its runner keeps
    # polling (see settings.py); kill a healthy one, so the figure is the usual failover.
    wait_until(
        lambda: time.time() - _last_heartbeat(stack, victim_job) <= heartbeat + LOOP_SECONDS,
        timeout=60,
        interval=0.2,
        description=f"a fresh heartbeat of {victim}",
    )

    killed_at = time.time()
    stack.kill_component(victim, signal.SIGKILL)
    kill_done = time.time()
    assert not stack.is_running(victim)

    last_beat = _last_heartbeat(stack, victim_job)  # the dead job's row keeps its last one

    def moved_to_survivor() -> bool:
        current = {t["map_index"]: t for t in _generate_tis(stack, run_id)}
        if any(current[i]["state"] != "deferred" for i in moved):
            raise AssertionError(f"a moved task left 'deferred' before it was reassigned: {current}")
        return all(_holder(current[i]) == survivor_job for i in moved)

    wait_until(moved_to_survivor, timeout=latest + 30, interval=0.5, description="the survivor to claim")

    def first_polls_after_kill() -> dict[str, float] | None:
        firsts: dict[str, float] = {}
        for record in e2e_simulator.requests:
            if record.endpoint == "poll" and record.generation_id in moved_ids and record.at > kill_done:
                firsts.setdefault(str(record.generation_id), record.at)
        return firsts if len(firsts) == len(moved_ids) else None

    firsts = wait_until(first_polls_after_kill, timeout=60, interval=0.5, description="polls by the survivor")
    after_kill = _pollers(stack, e2e_simulator, sim_port, since=kill_done)
    assert {g: after_kill.get(g) for g in moved_ids} == {g: {survivor} for g in moved_ids}
    run = api.wait_for_run(DAG_ID, run_id, timeout=300, interval=1.0)

    assert run["state"] == "success", api.describe_failures(DAG_ID, run_id)
    final = _generate_tis(stack, run_id)
    assert [t["state"] for t in final] == ["success"] * GENERATIONS
    assert [t["try_number"] for t in final] == [1] * GENERATIONS
    # Each generation created exactly once: the survivor only polled what it took over.
    creates = [r for r in e2e_simulator.requests if r.endpoint == "create"]
    assert e2e_simulator.creations == GENERATIONS
    assert len(creates) == GENERATIONS
    results = [api.xcom(DAG_ID, run_id, "generate", map_index=i) for i in range(GENERATIONS)]
    assert sorted(r["generation_id"] for r in results) == sorted(e2e_simulator.generation_ids)
    assert all(r["status"] == "completed" for r in results)
    since_beat = sorted(at - last_beat for at in firsts.values())
    since_kill = sorted(at - killed_at for at in firsts.values())
    assert since_beat[0] >= threshold, (since_beat, threshold)  # not adopted while it counted as alive
    assert since_beat[0] <= threshold + 2 * LOOP_SECONDS + STARTUP_SLACK, (since_beat, threshold)
    assert since_kill[0] <= latest, (since_kill, latest)
    assert since_kill[-1] <= latest + POLL_INTERVAL * 1.1, (since_kill, latest)
    print(
        f"\nfailover: triggers per triggerer before the kill { ({n: len(v) for n, v in held.items()}) }; "
        f"killed {victim} holding {len(moved)} (map indexes {moved}) "
        f"{killed_at - last_beat:.1f} s after its last heartbeat; all moved to {survivor}; "
        f"creations {e2e_simulator.creations} for {GENERATIONS} generations (1 each); "
        f"kill -> survivor's first poll of a moved generation {since_kill[0]:.1f} s "
        f"(last {since_kill[-1]:.1f} s; {since_beat[0]:.1f} s after the last heartbeat); "
        f"predicted [{earliest:.1f}, {latest:.1f}] s after the kill, >= {threshold:g} s after the "
        f"last heartbeat (job_heartbeat_sec={heartbeat:g}, triggerer_health_check_threshold={threshold:g})"
    )
