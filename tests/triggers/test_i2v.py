"""I2VTaskTrigger on a real event loop against the simulator."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from airflow_provider_i2v.hooks import clients, transport
from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.protocol import GenerationRequest
from airflow_provider_i2v.simulator import Fault
from airflow_provider_i2v.triggers.i2v import I2VTaskTrigger
from tests.sim_helpers import creations, run_trigger

REQUEST = GenerationRequest(first_frame_image="https://images.example.com/cat.jpg")


def submit() -> str:
    return I2VHook().create_generation(REQUEST).generation_id


def trigger(generation_id: str, **kwargs: Any) -> I2VTaskTrigger:
    kwargs.setdefault("poll_interval", 0.05)
    return I2VTaskTrigger(generation_id=generation_id, i2v_conn_id="i2v_default", **kwargs)


def test_serialize_round_trip_resumes_same_generation_without_submitting(
    simulator: Any, i2v_conn: str
) -> None:
    generation_id = submit()
    original = trigger(generation_id, deadline=time.time() + 60, started_at=time.time())
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_provider_i2v.triggers.i2v.I2VTaskTrigger"
    restored = I2VTaskTrigger(**kwargs)  # what a new triggerer does after a restart
    assert restored.serialize() == (classpath, kwargs)
    [event] = run_trigger(restored)
    assert event["status"] == "completed"
    assert event["generation_id"] == generation_id
    assert event["outcome"]["usage"]["cost"] == "0.2800"
    assert creations(simulator) == 1


def test_failed_generation_event_carries_the_error(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(fail_code="010006098", error_shape="object_message", error_code_form="int")
    [event] = run_trigger(trigger(submit()))
    assert event["status"] == "failed"
    assert event["outcome"]["error"]["code"] == "010006098"


def test_unknown_statuses_are_still_running_and_logged_once(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.configure(generation_seconds=0.3, unknown_status_polls=4, unknown_status="warming_up")
    [event] = run_trigger(trigger(submit()))
    assert event["status"] == "completed"
    out = "".join(capfd.readouterr())
    assert out.count("unknown status 'warming_up'") == 1
    assert "% done" in out  # progress is reported


def test_progress_logged_on_change_not_per_poll(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.configure(generation_seconds=1.0)
    [event] = run_trigger(trigger(submit(), poll_interval=0.02))
    assert event["status"] == "completed"
    out = "".join(capfd.readouterr())
    polls = sum(1 for r in simulator.requests if r.endpoint == "poll")
    progress_lines = out.count("% done")
    assert polls > 20
    assert 1 <= progress_lines <= 11  # at most one line per 10 %


def test_outage_longer_than_the_retry_budget_does_not_lose_the_generation(
    simulator: Any, i2v_conn: str
) -> None:
    generation_id = submit()
    simulator.configure(faults=[Fault("http_503", first_n=9, scope="poll")])  # budget is 6 attempts a poll
    [event] = run_trigger(trigger(generation_id))
    assert event["status"] == "completed"


def test_unknown_generation_is_an_error_event(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_i2v.generation import wait as wait_module

    monkeypatch.setattr(wait_module, "ASK_AGAIN_AFTER", 0.01)  # the second 404 is believed
    [event] = run_trigger(trigger("nosuchgeneration0000"))
    assert event["status"] == "error"
    assert event["error_class"] == "I2VGenerationNotFoundError"


def test_absolute_deadline_survives_restart(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=60)
    deadline = time.time() + 0.3
    generation_id = submit()
    _, kwargs = trigger(generation_id, deadline=deadline).serialize()
    time.sleep(0.35)  # the triggerer was down past the deadline
    started = time.monotonic()
    [event] = run_trigger(I2VTaskTrigger(**kwargs))
    assert event["status"] == "timeout"
    assert time.monotonic() - started < 2  # the restart did not reset the deadline


def test_triggers_share_one_client_per_loop(simulator: Any, i2v_conn: str) -> None:
    ids = [submit() for _ in range(5)]

    async def run_all() -> list[dict[str, Any]]:
        async def one(generation_id: str) -> dict[str, Any]:
            async for event in trigger(generation_id).run():
                return event.payload
            raise AssertionError("no event")

        return await asyncio.gather(*(one(g) for g in ids))

    transport.reset_shared_state()
    events = asyncio.run(run_all())
    assert [e["status"] for e in events] == ["completed"] * 5
    assert len(clients._async_clients) == 1


def test_event_payload_never_holds_the_key(simulator: Any, i2v_conn: str) -> None:
    from tests.conftest import API_KEY

    [event] = run_trigger(trigger(submit()))
    assert API_KEY not in repr(event)


def run_triggers(triggers: list[I2VTaskTrigger], timeout: float = 60.0) -> list[tuple[float, dict[str, Any]]]:
    """Run triggers concurrently on one loop, as a triggerer does; returns (finish time, payload)."""

    async def one(t: I2VTaskTrigger) -> tuple[float, dict[str, Any]]:
        async for event in t.run():
            return time.monotonic(), event.payload
        raise AssertionError("no event")

    async def run_all() -> list[tuple[float, dict[str, Any]]]:
        return await asyncio.wait_for(asyncio.gather(*(one(t) for t in triggers)), timeout)

    return asyncio.run(run_all())


def test_a_429_slows_every_trigger_of_the_connection(simulator: Any, i2v_conn: str) -> None:
    ids = [submit() for _ in range(4)]
    simulator.configure(
        generation_seconds=3.0, retry_after=1.0, faults=[Fault("http_429", first_n=1, scope="poll")]
    )
    transport.reset_shared_state()
    events = run_triggers([trigger(g, poll_interval=0.05) for g in ids])
    assert [e["status"] for _, e in events] == ["completed"] * 4
    polls = [r for r in simulator.requests if r.endpoint == "poll"]
    [throttled] = [r for r in polls if r.status == 429]
    # Requests already in flight when the 429 arrived may land just after it; after that,
    # nobody (not only the trigger that was told) polls until Retry-After has passed.
    during_backoff = [r for r in polls if throttled.at + 0.1 < r.at < throttled.at + 0.9]
    assert during_backoff == []
    assert any(r.at >= throttled.at + 0.9 for r in polls)


def test_a_stalled_answer_does_not_stall_other_triggers(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import connection_uri, simulator_base_url

    monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", connection_uri(simulator_base_url(), timeout=1))
    transport.reset_shared_state()
    stalled_id, other_id = submit(), submit()
    simulator.configure(
        generation_seconds=0.5, slow_seconds=30, faults=[Fault("slow", first_n=1, scope="poll")]
    )
    started = time.monotonic()
    # The first poll to reach the server (the stalled trigger's) hangs for 30 s.
    results = run_triggers([trigger(stalled_id), trigger(other_id)], timeout=20)
    finish = {e["generation_id"]: at - started for at, e in results}
    assert {e["status"] for _, e in results} == {"completed"}
    assert finish[other_id] < finish[stalled_id]  # the other one was not held up
    assert finish[stalled_id] < 5  # the stalled request was cut off by the per-request cap, not 30 s


def test_a_poll_stuck_in_retries_does_not_overrun_the_deadline(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_i2v.generation import wait as wait_module

    monkeypatch.setattr(wait_module, "FIRST_POLL_MIN", 0.2)  # the first poll's floor (3 s), shrunk
    generation_id = submit()
    simulator.configure(retry_after=30, faults=[Fault("http_503", scope="poll")])
    started = time.monotonic()
    [event] = run_trigger(trigger(generation_id, deadline=time.time() + 0.5))
    assert event["status"] == "timeout"
    assert time.monotonic() - started < 2  # not 30 s of Retry-After per attempt


def test_a_trigger_picked_up_after_its_deadline_still_polls_once(simulator: Any, i2v_conn: str) -> None:
    """A triggerer that adopts the trigger late must not report a finished, paid video as a timeout."""
    simulator.configure(generation_seconds=0)
    generation_id = submit()
    [event] = run_trigger(trigger(generation_id, deadline=time.time() - 600))
    assert event["status"] == "completed"
    assert event["generation_id"] == generation_id


def test_a_late_trigger_whose_generation_still_runs_times_out_after_one_poll(
    simulator: Any, i2v_conn: str
) -> None:
    simulator.configure(generation_seconds=60)
    generation_id = submit()
    [event] = run_trigger(trigger(generation_id, deadline=time.time() - 1))
    assert event["status"] == "timeout"
    assert [r.generation_id for r in simulator.requests if r.endpoint == "poll"] == [generation_id]


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "g1", "status": "in_progress", "progress": NaN}',
        b'{"id": "g1", "status": "in_progress", "progress": ' + b"9" * 400 + b"}",
        b'{"id": "g1", "status": "in_progress", "created_at": ' + b"9" * 400 + b"}",
        b'{"id": "g1", "status": "in_progress", "progress": Infinity, "created_at": -Infinity}',
    ],
)
def test_odd_numbers_in_an_answer_never_crash_the_trigger(
    monkeypatch: pytest.MonkeyPatch, body: bytes
) -> None:
    from tests.conftest import connection_uri
    from tests.http_server import Answer, scripted_server

    transport.reset_shared_state()
    done = b'{"id": "g1", "status": "completed", "output": [], "usage": {"cost": "0.28"}}'
    with scripted_server(Answer(200, body), Answer(200, body), Answer(200, done)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_I2V_ODD", connection_uri(server.url))
        odd = I2VTaskTrigger(generation_id="g1", i2v_conn_id="i2v_odd", poll_interval=0.01)
        [event] = run_trigger(odd)
    assert event["status"] == "completed"


def test_triggers_of_one_loop_resolve_their_connection_once(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a triggerer each look-up is a round trip through the supervisor: one per loop."""
    ids = [submit() for _ in range(5)]
    looked_up: list[str] = []
    original = I2VHook.aget_connection

    async def counting(conn_id: str) -> Any:
        looked_up.append(conn_id)
        return await original(conn_id)

    monkeypatch.setattr(I2VHook, "aget_connection", staticmethod(counting))
    transport.reset_shared_state()
    events = run_triggers([trigger(g) for g in ids])
    assert [e["status"] for _, e in events] == ["completed"] * 5
    assert looked_up == ["i2v_default"]


def test_a_rotated_key_is_looked_up_again_when_the_gateway_refuses_the_old_one(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import connection_uri, simulator_base_url

    generation_id = submit()
    old = connection_uri(simulator_base_url())
    new = old.replace('"password": "', '"password": "rotated-')

    async def run() -> list[dict[str, Any]]:
        # This loop's triggers resolved the connection with the old key ...
        await clients.shared_settings("i2v_default", I2VHook()._aresolve)
        # ... then the key was rotated: the gateway only takes the new one.
        monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", new)
        simulator.configure(api_keys=[json.loads(new)["password"]])
        return [event.payload async for event in trigger(generation_id).run()]

    transport.reset_shared_state()
    [event] = asyncio.run(run())
    assert event["status"] == "completed"
    assert [r.status for r in simulator.requests if r.endpoint == "poll"][:2] == [401, 200]


def test_a_refused_key_that_did_not_change_is_an_error_event(simulator: Any, i2v_conn: str) -> None:
    generation_id = submit()
    simulator.configure(api_keys=["someone-else"])
    [event] = run_trigger(trigger(generation_id))
    assert event["status"] == "error"
    assert event["error_class"] == "I2VAuthenticationError"


def test_the_first_answer_is_one_log_line(
    simulator: Any, i2v_conn: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """A thousand triggers start together on a triggerer: each says one thing at first."""
    simulator.configure(generation_seconds=60)
    generation_id = submit()
    [event] = run_trigger(trigger(generation_id, deadline=time.time() + 0.3))
    assert event["status"] == "timeout"
    lines = [line for line in "".join(capfd.readouterr()).splitlines() if generation_id in line]
    status = [line for line in lines if "status in_progress" in line]
    assert len(status) == 1
    assert "% done" in status[0]
    assert not any("Polling generation" in line for line in lines)


def test_the_heap_is_frozen_only_when_the_deployment_opts_in_and_only_in_the_trigger_runner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from airflow.sdk.execution_time import task_runner

    from airflow_provider_i2v.triggers import i2v as trigger_module

    class TriggerCommsDecoder:  # what Airflow's trigger runner talks to its supervisor with
        pass

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", TriggerCommsDecoder(), raising=False)
    trigger_module.freeze_startup_heap.cache_clear()
    trigger_module.freeze_startup_heap()
    assert frozen == []  # the host process is left alone unless the deployment asks

    monkeypatch.setenv("AIRFLOW__I2V__FREEZE_TRIGGER_HEAP", "True")
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", object())
    trigger_module.freeze_startup_heap.cache_clear()
    trigger_module.freeze_startup_heap()
    assert frozen == []  # a worker, `airflow dags test`, a test: left alone

    trigger_module.freeze_startup_heap.cache_clear()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", TriggerCommsDecoder())
    trigger_module.freeze_startup_heap()
    trigger_module.freeze_startup_heap()
    assert frozen == [True]  # once per process
    trigger_module.freeze_startup_heap.cache_clear()


def test_the_render_time_the_gateway_reports_teaches_the_schedule(simulator: Any, i2v_conn: str) -> None:
    from airflow_provider_i2v.generation.schedule import RENDER_TIMES

    RENDER_TIMES.clear()
    simulator.configure(generation_seconds=0.1)
    for _ in range(8):
        [event] = run_trigger(trigger(submit(), model="m", adaptive=True, started_at=time.time()))
        assert event["status"] == "completed"
    edge = RENDER_TIMES.early_edge("m")
    RENDER_TIMES.clear()
    assert edge == pytest.approx(0.1, abs=0.01)  # metadata: completed_at - in_queue_at


def test_the_event_carries_a_compact_outcome_not_the_raw_answer(simulator: Any, i2v_conn: str) -> None:
    """Events are stored in the metadata database: a gateway that answers with megabytes of
    metadata must not put them there."""
    simulator.configure(generation_seconds=0.05, usage_extra={"blob": "x" * 500_000})
    [event] = run_trigger(trigger(submit()))
    assert event["status"] == "completed"
    assert "response" not in event
    assert len(json.dumps(event)) < 20_000
    assert event["outcome"]["usage"]["cost"] == "0.2800"  # what the worker needs is kept
    assert "dropped" in event["outcome"]["usage"]
