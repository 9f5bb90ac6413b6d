"""``SimulatorServer``'s life cycle: start, address, stop (also with requests in flight)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from airflow_provider_i2v.protocol import CREATE_PATH, auth_header
from airflow_provider_i2v.simulator import Fault, SimConfig, Simulator, SimulatorServer

from .helpers import API_KEY, create_body


def test_start_stop_and_address() -> None:
    server = SimulatorServer(SimConfig(seed=1))
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    with server:
        assert server.running
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.port > 0
        assert httpx.get(f"{server.url}/_sim/health", timeout=5).json() == {"ok": True}
        with pytest.raises(RuntimeError, match="already started"):
            server.start()
    assert not server.running
    server.stop()  # stopping twice is harmless
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{server.port}/_sim/health", timeout=5)


def test_a_simulator_can_be_served_and_kept_across_servers() -> None:
    sim = Simulator(SimConfig(seed=2))
    with SimulatorServer(simulator=sim) as server:
        httpx.post(f"{server.url}{CREATE_PATH}", json=create_body(), headers=auth_header(API_KEY), timeout=5)
    assert sim.creations == 1
    with pytest.raises(ValueError, match="not both"):
        SimulatorServer(SimConfig(), simulator=sim)


def test_a_port_in_use_is_an_error() -> None:
    with SimulatorServer() as server, pytest.raises(OSError, match="in use"):
        SimulatorServer(port=server.port).start()


@pytest.mark.timeout(30)
def test_stop_with_a_request_in_flight_drops_it_quickly() -> None:
    config = SimConfig(seed=3, slow_seconds=60, faults=(Fault(kind="slow", scope="create"),))
    server = SimulatorServer(config, graceful_shutdown_seconds=0).start()
    errors: list[BaseException] = []

    def waiting_client() -> None:
        try:
            httpx.post(
                f"{server.url}{CREATE_PATH}", json=create_body(), headers=auth_header(API_KEY), timeout=30
            )
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiting_client)
    thread.start()
    deadline = time.monotonic() + 10
    while server.simulator.creations == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    thread.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], httpx.RemoteProtocolError)
    assert server.simulator.requests[-1].status is None


def test_importing_the_simulator_is_cheap() -> None:
    """No Airflow ever, the server stack only once a server starts, PyAV and Pillow only to render."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys, airflow_provider_i2v.simulator\n"
        "heavy = [m for m in ('airflow', 'uvicorn', 'starlette', 'av', 'PIL') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
