"""The provider's metrics arrive at a real StatsD listener with the names, types and values
the docs promise, through Airflow's own stats client configured the way a deployment does it
(``AIRFLOW__METRICS__STATSD_*``).

The listener is a UDP socket on a loopback port. A test knows it has everything by sending a
sentinel counter last through the same client: datagrams from one socket on loopback arrive
in order, so no test waits for a fixed time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from airflow_provider_i2v import metrics

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parents[1]
SENTINEL = "test.sentinel"


class StatsdListener:
    """Collects StatsD datagrams sent to 127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port: int = self.sock.getsockname()[1]

    def received(self) -> list[str]:
        """Every metric line that arrived before the sentinel (sent here through Airflow's client)."""
        from airflow.sdk.observability import stats

        stats.incr(SENTINEL)
        return self._until_sentinel()

    def received_raw(self) -> list[str]:
        """The same, with the sentinel sent on a socket of its own (for when Airflow sends nothing)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            out.sendto(f"airflow.{SENTINEL}:1|c".encode(), ("127.0.0.1", self.port))
        return self._until_sentinel()

    def _until_sentinel(self) -> list[str]:
        lines: list[str] = []
        while True:
            data, _ = self.sock.recvfrom(65535)
            for line in data.decode().splitlines():
                if line.startswith(f"airflow.{SENTINEL}"):
                    return lines
                lines.append(line)

    def close(self) -> None:
        self.sock.close()


def _configure(env: dict[str, str]) -> dict[str, str | None]:
    """Set Airflow's [metrics] options and rebuild its stats client from them; returns the old env."""
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability import stats
    from airflow.sdk.observability.metrics import stats_utils

    old = {key: os.environ.get(key) for key in env}
    for key, value in env.items():
        os.environ[key] = value
    stats.initialize(
        factory=stats_utils.get_stats_factory(),
        export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
    )
    metrics.reset()
    return old


def _restore(old: dict[str, str | None]) -> None:
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _configure({})  # the stats client the restored configuration describes (off, normally)


def _metrics_env(port: int, **extra: str) -> dict[str, str]:
    env = {
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(port),
        "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        "AIRFLOW__METRICS__STATSD_DATADOG_ENABLED": "False",
        "AIRFLOW__METRICS__OTEL_ON": "False",
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "False",
        "AIRFLOW__METRICS__METRICS_ALLOW_LIST": "",
        "AIRFLOW__METRICS__METRICS_BLOCK_LIST": "",
    }
    env.update(extra)
    return env


@pytest.fixture
def listener() -> Iterator[StatsdListener]:
    try:
        import statsd  # noqa: F401  (Airflow's StatsD backend)
    except ImportError:
        pytest.fail("the 'statsd' package is missing: Airflow sends nothing over StatsD without it")
    server = StatsdListener()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def statsd(listener: StatsdListener) -> Iterator[StatsdListener]:
    """Airflow's metrics on, sent as plain StatsD to the listener; restored afterwards."""
    old = _configure(_metrics_env(listener.port))
    try:
        yield listener
    finally:
        _restore(old)


def test_each_event_arrives_under_its_name_and_twice_where_a_tag_matters(statsd: StatsdListener) -> None:
    metrics.generation_created("minimax_i2v_01_live")
    metrics.generation_completed("minimax_i2v_01_live")
    metrics.generation_failed("10006095")
    metrics.create_uncertain()
    metrics.polls()
    metrics.polls(40)
    metrics.throttled("poll")
    metrics.render_time(41.5, "minimax_i2v_01_live")
    metrics.render_time(None, "minimax_i2v_01_live")  # the gateway did not say: nothing
    metrics.batch_item("timeout")

    assert statsd.received() == [
        "airflow.i2v.generation.created:1|c",
        "airflow.i2v.generation.created.minimax_i2v_01_live:1|c",
        "airflow.i2v.generation.completed:1|c",
        "airflow.i2v.generation.completed.minimax_i2v_01_live:1|c",
        "airflow.i2v.generation.failed:1|c",
        "airflow.i2v.generation.failed.10006095:1|c",
        "airflow.i2v.create.uncertain:1|c",
        "airflow.i2v.poll:1|c",
        "airflow.i2v.poll:40|c",
        "airflow.i2v.throttled:1|c",
        "airflow.i2v.throttled.poll:1|c",
        "airflow.i2v.generation.render_time:41500.000000|ms",
        "airflow.i2v.generation.render_time.minimax_i2v_01_live:41500.000000|ms",
        "airflow.i2v.batch.items:1|c",
        "airflow.i2v.batch.items.timeout:1|c",
    ]


def test_cost_is_counted_in_micro_dollars_from_the_exact_decimal(statsd: StatsdListener) -> None:
    metrics.cost(Decimal("0.2800"), "minimax_i2v_01_live")
    # As floats, 0.0157 * 1e6 is 15699.999999999998: a float on the way would count 15699.
    metrics.cost(Decimal("0.0157"), "minimax_i2v_01_live")
    metrics.cost(None, "minimax_i2v_01_live")  # cost unknown: nothing

    assert statsd.received() == [
        "airflow.i2v.cost.micro_usd:280000|c",
        "airflow.i2v.cost.micro_usd.minimax_i2v_01_live:280000|c",
        "airflow.i2v.cost.micro_usd:15700|c",
        "airflow.i2v.cost.micro_usd.minimax_i2v_01_live:15700|c",
    ]


def test_micro_usd_is_exact_and_rounds_half_even_below_a_micro_dollar() -> None:
    assert metrics.micro_usd(Decimal("0.2800")) == 280_000
    assert metrics.micro_usd(Decimal("12345.678901")) == 12_345_678_901
    assert metrics.micro_usd(Decimal("0.0000005")) == 0
    assert metrics.micro_usd(Decimal("0.0000015")) == 2


def test_the_live_gauge_moves_by_deltas_and_gives_back_everything_on_error(
    statsd: StatsdListener,
) -> None:
    with metrics.LiveGenerations(3) as live:
        live.done()
    with pytest.raises(RuntimeError), metrics.LiveGenerations(2):
        raise RuntimeError("the trigger was cancelled")

    assert statsd.received() == [
        "airflow.i2v.generations.live:+3|g",
        "airflow.i2v.generations.live:-1|g",
        "airflow.i2v.generations.live:-2|g",
        "airflow.i2v.generations.live:+2|g",
        "airflow.i2v.generations.live:-2|g",
    ]


def test_tag_values_become_safe_name_segments(statsd: StatsdListener) -> None:
    metrics.generation_failed(None)
    metrics.generation_created("vendor/model v1.2")

    assert statsd.received() == [
        "airflow.i2v.generation.failed:1|c",
        "airflow.i2v.generation.failed.unknown:1|c",
        "airflow.i2v.generation.created:1|c",
        "airflow.i2v.generation.created.vendor_model_v1__2:1|c",
    ]


def test_tags_reach_statsd_in_the_influxdb_format_when_it_is_on(listener: StatsdListener) -> None:
    old = _configure(_metrics_env(listener.port, AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED="True"))
    try:
        metrics.generation_failed("10006095")
        metrics.batch_item("completed")
        lines = listener.received()
    finally:
        _restore(old)

    assert lines == [
        "airflow.i2v.generation.failed,error_code=10006095:1|c",
        "airflow.i2v.generation.failed.10006095:1|c",
        "airflow.i2v.batch.items,outcome=completed:1|c",
        "airflow.i2v.batch.items.completed:1|c",
    ]


def test_the_allow_list_selects_metrics_by_pattern(listener: StatsdListener) -> None:
    old = _configure(
        _metrics_env(listener.port, AIRFLOW__METRICS__METRICS_ALLOW_LIST=r"i2v\.generation\.failed,sentinel")
    )
    try:
        metrics.generation_created("m")
        metrics.generation_failed("10006097")
        lines = listener.received()
    finally:
        _restore(old)

    assert lines == ["airflow.i2v.generation.failed:1|c", "airflow.i2v.generation.failed.10006097:1|c"]


def test_nothing_is_sent_and_airflow_is_not_called_when_metrics_are_off(
    listener: StatsdListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.observability import stats

    old = _configure(_metrics_env(listener.port, AIRFLOW__METRICS__STATSD_ON="False"))
    calls: list[str] = []
    try:
        for fn in ("incr", "gauge", "timing"):
            monkeypatch.setattr(stats, fn, lambda *a, _fn=fn, **k: calls.append(_fn))
        metrics.generation_created("m")
        metrics.cost(Decimal("0.28"), "m")
        metrics.render_time(3.0, "m")
        with metrics.LiveGenerations(2):
            pass
        monkeypatch.undo()
        lines = listener.received_raw()
    finally:
        _restore(old)

    assert calls == []
    assert lines == []


def test_a_failing_backend_never_reaches_the_caller(
    statsd: StatsdListener, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow.sdk.observability import stats

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("the metrics socket is gone")

    for fn in ("incr", "gauge", "timing"):
        monkeypatch.setattr(stats, fn, broken)
    with caplog.at_level("DEBUG", logger=metrics.__name__):
        metrics.generation_failed("10006095")
        metrics.cost(Decimal("0.28"), "m")
        metrics.render_time(3.0, "m")
        with metrics.LiveGenerations(1) as live:
            live.done()

    assert [r.getMessage() for r in caplog.records] == [
        "Metric i2v.generation.failed not sent",
        "Metric i2v.cost.micro_usd not sent",
        "Metric i2v.generation.render_time not sent",
        "Metric i2v.generations.live not sent",
        "Metric i2v.generations.live not sent",
    ]


def test_a_process_whose_sdk_stats_were_never_initialized_still_sends(
    listener: StatsdListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process where no Airflow code initialized the Task SDK's stats (the triggerer relies on
    a side effect for it) would otherwise drop every metric silently."""
    from airflow.sdk._shared.observability.metrics import stats as impl

    old = _configure(_metrics_env(listener.port))
    try:
        monkeypatch.setattr(impl, "_factory", None)
        monkeypatch.setattr(impl, "_backend", None)
        metrics.generation_created("m")
        lines = listener.received()
    finally:
        monkeypatch.undo()
        _restore(old)

    assert lines == ["airflow.i2v.generation.created:1|c", "airflow.i2v.generation.created.m:1|c"]


def test_importing_the_module_imports_nothing_heavy(tmp_path: Path) -> None:
    script = r"""
import json, sys
for name in ["httpx", "PIL", "tenacity", "uvicorn", "starlette", "statsd", "airflow"]:
    sys.modules[name] = None
import airflow_provider_i2v.metrics as m
m.name_part("x")
print(json.dumps(sorted(n for n in sys.modules if n.startswith("airflow_provider_i2v"))))
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout) == ["airflow_provider_i2v", "airflow_provider_i2v.metrics"]
