"""The provider's metrics: one function per event, sent through Airflow's own stats API.

Every name sits under ``i2v.`` (Airflow adds its ``[metrics] statsd_prefix``, by default
``airflow``, in front). A metric whose tag matters is sent twice, the way Airflow's edge3
provider does it: once under its plain name with the tag as a tag, and once with the tag's
value in the name (``i2v.generation.failed`` with ``error_code=10006095`` and
``i2v.generation.failed.10006095``), so a StatsD backend that drops tags still tells the
error codes, models and outcomes apart. ``docs/metrics.md`` lists every metric and where
the operators, the batch and the triggers call it.

Why the functions look the way they do:

* **Never raise into the caller.** A metrics fault (a bad name, a backend that cannot be
  built, a closed socket) is logged at debug level and swallowed: a video that was paid
  for must not fail because a counter could not be sent.
* **Free when metrics are off.** Whether Airflow sends metrics at all (``statsd_on``,
  ``statsd_datadog_enabled`` or ``otel_on``) is read from the configuration once per
  process; when all are off every function returns after one boolean test.
* **Cheap to import.** Nothing but the standard library at import time; Airflow's stats
  module is imported on the first emission with metrics on.
* **Safe on the triggerer's event loop.** Each call is synchronous and short: StatsD and
  DogStatsD send one UDP datagram (a ``sendto`` that never waits for an answer, about 5 µs;
  a lost datagram is simply lost) and OpenTelemetry records in memory for its own exporter
  thread. The first emission of a process builds
  Airflow's client, about 0.3 ms, in which StatsD resolves ``statsd_host`` (use an IP address
  or a name in ``/etc/hosts``). Airflow's metric registry file (read when ``legacy_names_on``)
  is already loaded by then: importing ``airflow.sdk.serde``, which workers and triggerers
  do before any task or trigger runs, reads it.
* **Money stays exact.** Cost is counted in micro-dollars, an integer made from the exact
  ``Decimal`` (``Decimal("0.2800")`` is 280000), never through a float.
* **The live gauge is kept by deltas.** A generation is created on a worker and usually
  watched on a triggerer, so no one process knows how many are live. Each process that
  watches generations sends ``+n`` when it starts watching and ``-n`` when it stops (in a
  ``finally``), and the StatsD server adds the deltas of all processes into one value. See
  :class:`LiveGenerations` for the limits.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "i2v"

GENERATIONS_CREATED = f"{PREFIX}.generation.created"
GENERATIONS_COMPLETED = f"{PREFIX}.generation.completed"
GENERATIONS_FAILED = f"{PREFIX}.generation.failed"
UNCERTAIN_CREATES = f"{PREFIX}.create.uncertain"
POLLS = f"{PREFIX}.poll"
THROTTLED = f"{PREFIX}.throttled"
RENDER_TIME = f"{PREFIX}.generation.render_time"
COST = f"{PREFIX}.cost.micro_usd"
LIVE = f"{PREFIX}.generations.live"
BATCH_ITEMS = f"{PREFIX}.batch.items"

#: Micro-dollars per US dollar: the unit of the cost counter.
MICRO_USD_PER_USD = Decimal(1_000_000)
#: What stands in a name for a tag value that is missing.
UNKNOWN = "unknown"

_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_MAX_NAME_PART = 64

# Per process: None until the configuration was read, then whether any metrics backend is on.
_enabled: bool | None = None
# Whether the live gauge may be sent: DogStatsD has no delta gauges (see LiveGenerations).
_deltas_supported = True


def reset() -> None:
    """Forget what was read from the configuration (for tests and after a fork)."""
    global _enabled, _deltas_supported
    _enabled = None
    _deltas_supported = True


os.register_at_fork(after_in_child=reset)


def _stats() -> Any | None:
    """Airflow's stats module when metrics are on in this process, else None (the fast path)."""
    global _enabled, _deltas_supported
    if _enabled is False:
        return None
    from airflow.sdk.observability import stats

    if _enabled is None:
        from airflow.sdk.configuration import conf

        datadog = conf.getboolean("metrics", "statsd_datadog_enabled", fallback=False)
        statsd = conf.getboolean("metrics", "statsd_on", fallback=False)
        otel = conf.getboolean("metrics", "otel_on", fallback=False)
        _deltas_supported = not datadog
        if datadog or statsd or otel:
            _initialize_if_needed(stats, conf)
        _enabled = datadog or statsd or otel
        if not _enabled:
            return None
    return stats


def _initialize_if_needed(stats: Any, conf: Any) -> None:
    """Give the Task SDK's stats module its backend in a process that did not.

    The task runner initializes it on a worker; on the triggerer it happens as a side effect
    of Airflow decoding the first trigger's arguments. Should a process not have done it,
    everything sent would be dropped without a word; the OpenLineage provider initializes it
    for the same reason in its own processes.
    """
    from airflow.sdk._shared.observability.metrics import stats as impl

    if getattr(impl, "_factory", True) is not None:
        return
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(
        factory=stats_utils.get_stats_factory(),
        export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
    )


def name_part(value: object) -> str:
    """A tag value as one segment of a metric name (``a.b c`` -> ``a__b_c``).

    A dot would add a level to the StatsD hierarchy, so it becomes ``__`` as in Airflow's own
    legacy names; any other character a name may not hold becomes ``_``.
    """
    text = str(value).strip() if value is not None else ""
    if not text:
        return UNKNOWN
    return _INVALID_NAME_CHARS.sub("_", text.replace(".", "__"))[:_MAX_NAME_PART]


def tag_value(value: object) -> str:
    """A tag's value as sent: the text itself, ``unknown`` when missing."""
    text = str(value).strip() if value is not None else ""
    return text or UNKNOWN


def _incr(name: str, count: int, tag: str | None = None, value: object = None) -> None:
    """A counter, with its tag and (given a tag) again with the tag's value in its name."""
    if count <= 0:
        return
    try:
        stats = _stats()
        if stats is None:
            return
        if tag is None:
            stats.incr(name, count)
            return
        stats.incr(name, count, tags={tag: tag_value(value)})
        stats.incr(f"{name}.{name_part(value)}", count)
    except Exception:
        log.debug("Metric %s not sent", name, exc_info=True)


def generation_created(model: str | None) -> None:
    """A create was accepted and a generation id came back (the paid unit of work)."""
    _incr(GENERATIONS_CREATED, 1, "model", model)


def generation_completed(model: str | None) -> None:
    """A generation reached ``completed`` (first time this provider saw it so)."""
    _incr(GENERATIONS_COMPLETED, 1, "model", model)


def generation_failed(error_code: str | int | None) -> None:
    """A generation reached ``failed``; ``error_code`` is the gateway's code (None: unknown)."""
    _incr(GENERATIONS_FAILED, 1, "error_code", error_code)


def create_uncertain() -> None:
    """A create whose outcome is unknown (no answer, a 5xx, a dropped connection)."""
    _incr(UNCERTAIN_CREATES, 1)


def polls(count: int = 1) -> None:
    """Status answers received from the gateway (``count`` of them, for a batch round)."""
    _incr(POLLS, count)


def throttled(call: str) -> None:
    """The gateway answered 429; ``call`` is what was throttled: ``"create"`` or ``"poll"``."""
    _incr(THROTTLED, 1, "call", call)


def render_time(seconds: float | None, model: str | None) -> None:
    """A completed generation's render time as the gateway measured it
    (``GenerationState.render_seconds``); None (not reported) sends nothing.

    Sent as a StatsD timer (milliseconds, type ``ms``), with the model as a tag and in the name.
    """
    try:
        if seconds is None or not 0 <= seconds < float("inf"):
            return
        stats = _stats()
        if stats is None:
            return
        dt = timedelta(seconds=seconds)
        stats.timing(RENDER_TIME, dt, tags={"model": tag_value(model)})
        stats.timing(f"{RENDER_TIME}.{name_part(model)}", dt)
    except Exception:
        log.debug("Metric %s not sent", RENDER_TIME, exc_info=True)


def micro_usd(cost: Decimal) -> int:
    """An exact dollar amount as whole micro-dollars (half-even rounding below one micro-dollar)."""
    return int((cost * MICRO_USD_PER_USD).to_integral_value(rounding=ROUND_HALF_EVEN))


def cost(amount: Decimal | None, model: str | None) -> None:
    """What a completed generation cost, in micro-dollars; unknown (None) or zero sends nothing."""
    if _enabled is False:
        return
    try:
        if amount is None or not amount.is_finite():
            return
        count = micro_usd(amount)
    except Exception:
        log.debug("Metric %s not sent", COST, exc_info=True)
        return
    _incr(COST, count, "model", model)


def batch_item(outcome: str) -> None:
    """A batch item's final status: ``completed``, ``failed``, ``timeout``, ``uncertain``, ..."""
    _incr(BATCH_ITEMS, 1, "outcome", outcome)


def live_delta(delta: int) -> None:
    """Add ``delta`` (+ or -) to the live generations gauge; prefer :class:`LiveGenerations`."""
    if delta == 0:
        return
    try:
        stats = _stats()
        if stats is None or not _deltas_supported:
            return
        stats.gauge(LIVE, delta, delta=True)
    except Exception:
        log.debug("Metric %s not sent", LIVE, exc_info=True)


class LiveGenerations:
    """Counts generations as live while this process watches them.

    ``with LiveGenerations(n) as live:`` sends ``+n`` on entry and the rest of ``-n`` on exit,
    whatever the exit (a result, an error, a cancelled trigger, a deferral); ``live.done()``
    gives one back early, when a batch item finishes before the others. Works the same in a
    coroutine: nothing here awaits or blocks.

    Limits: a StatsD server sums the deltas of every process into one gauge; a process that
    is killed outright (SIGKILL, out of memory) leaves its ``+n`` there until the server
    restarts. OpenTelemetry keeps one running value per process. DogStatsD has no delta
    gauges, so nothing is sent there: ``created - completed - failed`` counts stand in.
    """

    def __init__(self, count: int = 1) -> None:
        self._held = max(0, count)

    def __enter__(self) -> LiveGenerations:
        live_delta(self._held)
        return self

    def done(self, count: int = 1) -> None:
        """``count`` of the watched generations ended (not more than are still held)."""
        count = min(max(0, count), self._held)
        self._held -= count
        live_delta(-count)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.done(self._held)
