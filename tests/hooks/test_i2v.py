"""I2VHook and its transport against the in-process simulator: retries, faults, secrets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VCreationUncertainError,
    I2VGenerationNotFoundError,
    I2VPermissionError,
    I2VTransientError,
)
from airflow_provider_i2v.hooks import backoff, clients, transport
from airflow_provider_i2v.hooks.i2v import I2VHook
from airflow_provider_i2v.protocol import GenerationRequest, GenerationStatus
from airflow_provider_i2v.simulator import Fault
from tests.conftest import API_KEY, connection_uri, simulator_base_url
from tests.http_server import plain_server
from tests.sim_helpers import creations

REQUEST = GenerationRequest(first_frame_image="https://images.example.com/cat.jpg", prompt="blink")


def logged(caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> str:
    """Everything logged: stdlib records plus Airflow's structlog output on stdout/stderr."""
    out, err = capfd.readouterr()
    return caplog.text + out + err


def polls(sim: Any) -> int:
    return sum(1 for r in sim.requests if r.endpoint == "poll")


def creates_sent(sim: Any) -> int:
    return sum(1 for r in sim.requests if r.endpoint == "create")


def test_create_then_poll_to_completion(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(generation_seconds=0.0)
    hook = I2VHook()
    accepted = hook.create_generation(REQUEST)
    assert accepted.status is GenerationStatus.RUNNING
    done = hook.get_generation(accepted.generation_id)
    assert done.status is GenerationStatus.COMPLETED
    assert done.video_urls
    assert done.usage["cost"] == "0.2800"
    assert [r.user_agent.split("/")[0] for r in simulator.requests] == ["airflow-provider-i2v"] * 2


def test_one_sync_client_per_process_and_connection(simulator: Any, i2v_conn: str) -> None:
    first, second = I2VHook(), I2VHook()
    assert clients.sync_client(first.get_settings()) is clients.sync_client(second.get_settings())


def test_one_async_client_per_loop_and_connection(simulator: Any, i2v_conn: str) -> None:
    settings = I2VHook().get_settings()

    async def twice() -> tuple[Any, Any]:
        return clients.async_client(settings), clients.async_client(settings)

    a, b = asyncio.run(twice())
    c, _ = asyncio.run(twice())
    assert a is b
    assert c is not a  # a client is bound to its event loop


@pytest.mark.parametrize(
    "kind",
    [
        "http_500",
        "http_502",
        "http_503",
        "http_429",
        "http_408",
        "reset",
        "drop",
        "malformed_json",
        "truncated_body",
        "missing_id",
    ],
)
def test_poll_survives_transient_faults(simulator: Any, i2v_conn: str, kind: str) -> None:
    generation_id = I2VHook().create_generation(REQUEST).generation_id
    simulator.configure(faults=[Fault(kind, first_n=2, scope="poll")])
    state = I2VHook().get_generation(generation_id)
    assert state.generation_id == generation_id
    assert polls(simulator) == 3


def test_poll_gives_up_after_the_budget(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", connection_uri(simulator_base_url(), max_retries=2))
    generation_id = I2VHook().create_generation(REQUEST).generation_id
    simulator.configure(faults=[Fault("http_503", scope="poll")])
    with pytest.raises(I2VTransientError, match="after 3 attempt") as error:
        I2VHook().get_generation(generation_id)
    assert error.value.generation_id == generation_id
    assert polls(simulator) == 3


@pytest.mark.parametrize("kind", ["http_429", "http_408"])
def test_create_retried_when_nothing_was_created(simulator: Any, i2v_conn: str, kind: str) -> None:
    simulator.configure(faults=[Fault(kind, first_n=2, scope="create")])
    I2VHook().create_generation(REQUEST)
    assert creates_sent(simulator) == 3
    assert creations(simulator) == 1


@pytest.mark.parametrize(
    "kind",
    ["http_500", "http_503", "reset", "drop", "lost_create_answer", "truncated_body", "malformed_json"],
)
def test_create_never_repeated_when_outcome_unknown(
    simulator: Any,
    i2v_conn: str,
    kind: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    simulator.configure(faults=[Fault(kind, first_n=1, scope="create")])
    with caplog.at_level(logging.WARNING), pytest.raises(I2VCreationUncertainError, match="may have been"):
        I2VHook().create_generation(REQUEST)
    assert creates_sent(simulator) == 1
    assert "MAY have been created and paid for" in logged(caplog, capfd)


def test_create_answered_without_id_is_a_failed_creation_and_retried(simulator: Any, i2v_conn: str) -> None:
    simulator.configure(faults=[Fault("missing_id", first_n=1, scope="create")])
    I2VHook().create_generation(REQUEST)
    assert creates_sent(simulator) == 2
    assert creations(simulator) == 1


def test_connection_refused_is_retried_then_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave the block: connection refused
    transport.reset_shared_state()
    monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", connection_uri(f"http://127.0.0.1:{port}", max_retries=2))
    with pytest.raises(I2VTransientError) as error:
        I2VHook().create_generation(REQUEST)
    assert not isinstance(error.value, I2VCreationUncertainError)  # nothing can have been created
    assert "after 3 attempt" in str(error.value)


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("http_401", I2VAuthenticationError),
        ("http_402", I2VPermissionError),
        ("http_403", I2VPermissionError),
    ],
)
def test_auth_and_balance_errors_never_retried(simulator: Any, i2v_conn: str, kind: str, error: type) -> None:
    simulator.configure(faults=[Fault(kind, scope="create")])
    with pytest.raises(error):
        I2VHook().create_generation(REQUEST)
    assert creates_sent(simulator) == 1


def test_unknown_generation_is_not_found(simulator: Any, i2v_conn: str) -> None:
    with pytest.raises(I2VGenerationNotFoundError) as error:
        I2VHook().get_generation("nosuchgeneration0000")
    assert error.value.generation_id == "nosuchgeneration0000"


def test_huge_body_is_capped_not_read(simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_I2V_DEFAULT", connection_uri(simulator_base_url(), max_retries=0))
    generation_id = I2VHook().create_generation(REQUEST).generation_id
    simulator.configure(faults=[Fault("huge_body", scope="poll")], huge_body_mib=64)
    with pytest.raises(I2VTransientError, match="larger than"):
        I2VHook().get_generation(generation_id)


def test_async_poll_and_shared_backoff_after_429(simulator: Any, i2v_conn: str) -> None:
    hook = I2VHook()
    generation_id = hook.create_generation(REQUEST).generation_id
    simulator.configure(faults=[Fault("http_429", first_n=1, scope="poll")], retry_after=0.5)

    async def poll() -> tuple[Any, float]:
        async_hook = I2VHook()
        state = await async_hook.aget_generation(generation_id)
        gate = backoff.backoff_gate(await async_hook.aget_settings())
        return state, gate._not_before

    state, not_before = asyncio.run(poll())
    assert state.generation_id == generation_id
    assert not_before > 0  # the 429 pushed the account-wide gate: every trigger waits


def test_test_connection_real_call(simulator: Any, i2v_conn: str) -> None:
    ok, message = I2VHook().test_connection()
    assert ok
    assert "accepted the API key" in message
    simulator.configure(api_keys=["someone-else"])
    ok, message = I2VHook().test_connection()
    assert not ok
    assert "refused the API key" in message
    assert creations(simulator) == 0  # cost-free


def test_key_never_logged_or_in_errors(
    simulator: Any, i2v_conn: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    hook = I2VHook()
    with caplog.at_level(logging.DEBUG):
        generation_id = hook.create_generation(REQUEST).generation_id
        simulator.configure(faults=[Fault("http_503", first_n=2, scope="poll")])
        hook.get_generation(generation_id)  # two retries, logged
        simulator.configure(faults=[Fault("http_500", scope="create"), Fault("http_401", scope="poll")])
        with pytest.raises(I2VCreationUncertainError) as first:
            hook.create_generation(REQUEST)
        with pytest.raises(I2VAuthenticationError) as second:
            hook.get_generation(generation_id)
    log_text = logged(caplog, capfd)
    assert "retrying in" in log_text
    assert "MAY have been created" in log_text
    for text in (log_text, str(first.value), str(second.value), repr(hook), repr(hook.get_settings())):
        assert API_KEY not in text


def test_connection_uri_form_with_port_reaches_the_simulator(
    simulator: Any, i2v_conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = simulator_base_url().removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_I2V_URI", f"i2v://:{API_KEY}@{host}:{port}/http")
    ok, message = I2VHook("i2v_uri").test_connection()
    assert ok, message


def test_bad_extra_is_a_configuration_error_not_a_refused_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_i2v.exceptions import I2VConnectionConfigError

    monkeypatch.setenv("AIRFLOW_CONN_I2V_BAD", connection_uri("http://127.0.0.1:9", timeout="soon"))
    with pytest.raises(I2VConnectionConfigError, match="'timeout' must be a number"):
        I2VHook("i2v_bad").get_settings()
    ok, message = I2VHook("i2v_bad").test_connection()
    assert not ok
    assert "not usable as configured" in message


def test_a_host_that_is_not_the_gateway_is_not_reported_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_i2v.exceptions import I2VConnectionConfigError

    server = plain_server(404, b"<html>Not Found</html>", {"Content-Type": "text/html"})
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("AIRFLOW_CONN_I2V_WEB", connection_uri(url))
        ok, message = I2VHook("i2v_web").test_connection()
        assert not ok
        assert "Vtrix gateway" in message
        with pytest.raises(I2VConnectionConfigError):
            I2VHook("i2v_web").create_generation(REQUEST)
    finally:
        server.shutdown()


def test_key_with_control_characters_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import json as _json

    from airflow_provider_i2v.exceptions import I2VConnectionConfigError

    key = "sk-SECRET-PART1\nSECRET-PART2"
    conn = {"conn_type": "i2v", "host": "http://127.0.0.1:9", "password": key}
    monkeypatch.setenv("AIRFLOW_CONN_I2V_CTRL", _json.dumps(conn))
    with pytest.raises(I2VConnectionConfigError) as error:
        I2VHook("i2v_ctrl").create_generation(REQUEST)
    assert "SECRET" not in str(error.value)
    ok, message = I2VHook("i2v_ctrl").test_connection()
    assert not ok
    assert "SECRET" not in message


def test_unusable_tls_setting_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_i2v.exceptions import I2VConnectionConfigError

    transport.reset_shared_state()
    monkeypatch.setenv(
        "AIRFLOW_CONN_I2V_CA", connection_uri("https://127.0.0.1:9", verify_ssl="/no/such/ca.pem")
    )
    with pytest.raises(I2VConnectionConfigError, match="verify_ssl/proxy"):
        I2VHook("i2v_ca").create_generation(REQUEST)
    ok, _ = I2VHook("i2v_ca").test_connection()
    assert not ok


def test_a_non_json_404_on_a_poll_is_a_config_error_never_an_unknown_generation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An HTML 404 (a proxy, a changed base path) must not read as "gone": that would pay again."""
    from airflow_provider_i2v.exceptions import I2VConnectionConfigError

    server = plain_server(404, b"<html>Not Found</html>", {"Content-Type": "text/html"})
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("AIRFLOW_CONN_I2V_WEB", connection_uri(url))
        with pytest.raises(I2VConnectionConfigError, match="not the Vtrix gateway"):
            I2VHook("i2v_web").get_generation("d758n65e878c73cmdg20")
    finally:
        server.shutdown()


def test_connection_test_probes_with_a_real_looking_id_and_then_without_a_key(
    simulator: Any, i2v_conn: str
) -> None:
    ok, _ = I2VHook().test_connection()
    assert ok
    probes = [r for r in simulator.requests if r.endpoint == "poll"]
    probe_id = "airflowi2vprobe00000"
    assert [(r.generation_id, r.status) for r in probes] == [(probe_id, 404), (probe_id, 401)]
