"""The back-off gate: one not-before time per account and process.

When the gateway answers 429 to one caller, every caller of that account in the
process (every trigger of a triggerer, every thread of a worker) waits behind the
same gate, not only the one that was told. Across processes the account-wide limit
is Airflow's job (a pool with ``include_deferred``; see docs/deploying.md).
"""

from __future__ import annotations

import random
import threading
import time

from airflow_provider_i2v.hooks.settings import ConnectionSettings

#: Longest a single ``Retry-After`` is honoured; a longer one is capped to this.
MAX_RETRY_AFTER = 300.0

_lock = threading.Lock()
_gates: dict[tuple[str, str], BackoffGate] = {}


class BackoffGate:
    """A not-before time shared by every request of one account in one process."""

    __slots__ = ("_not_before",)

    def __init__(self) -> None:
        self._not_before = 0.0

    def delay(self) -> float:
        """Seconds to wait before the next request may go out (0.0 almost always)."""
        not_before = self._not_before
        if not not_before:
            return 0.0
        return max(0.0, not_before - time.monotonic())

    def push(self, seconds: float) -> None:
        """Nobody sends before ``seconds`` from now (never shortens an existing wait)."""
        self._not_before = max(self._not_before, time.monotonic() + seconds)


def spread(pause: float) -> float:
    """Up to 20 % (at most 1 s) more, so callers released by one gate do not all fire at once."""
    return pause + random.uniform(0.0, min(1.0, pause * 0.2))


def backoff_gate(settings: ConnectionSettings) -> BackoffGate:
    """The gate of ``settings``' account (same gateway URL and key) in this process."""
    key = settings.account_key
    gate = _gates.get(key)
    if gate is not None:
        return gate
    with _lock:
        return _gates.setdefault(key, BackoffGate())


def reset_gates() -> None:
    """Forget every gate (for tests)."""
    with _lock:
        _gates.clear()
