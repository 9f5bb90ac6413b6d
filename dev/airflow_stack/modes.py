"""The deployment modes a stack can run in, and whether this machine can run each.

One suite, three deployments: what passes on SQLite with one triggerer must pass where
production runs, on PostgreSQL, and with Celery workers and several triggerers, where
triggers move between processes. A mode is chosen once per test session (``--airflow-mode``
or ``I2V_E2E_MODE``); a mode whose servers or drivers this machine lacks is skipped
with the reason, before anything starts.
"""

from __future__ import annotations

import importlib.metadata
import os

from .mode import Mode
from .services import postgres_unavailable, redis_unavailable

__all__ = ["DEFAULT_MODE", "MODES", "MODE_ENV", "Mode", "resolve_mode", "unavailable_reason"]

#: The environment variable that chooses the mode when the pytest option does not.
MODE_ENV = "I2V_E2E_MODE"
DEFAULT_MODE = "sqlite"


MODES: dict[str, Mode] = {
    "sqlite": Mode("sqlite", "sqlite", "LocalExecutor", 1, "SQLite, LocalExecutor, one triggerer"),
    "postgres": Mode("postgres", "postgres", "LocalExecutor", 1, "PostgreSQL, LocalExecutor, one triggerer"),
    "celery": Mode(
        "celery",
        "postgres",
        "CeleryExecutor",
        2,
        "PostgreSQL, Redis, CeleryExecutor (one worker), two triggerers",
    ),
}

#: Distributions each mode needs in the environment Airflow runs in (the ``e2e`` extra).
#: Looked up by metadata: importing Airflow here would load its configuration into pytest.
_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "postgres": ("psycopg2-binary", "asyncpg"),
    "celery": ("psycopg2-binary", "asyncpg", "celery", "redis", "apache-airflow-providers-celery"),
}


def resolve_mode(option: str | None = None) -> Mode:
    """The pytest option's value, else ``$I2V_E2E_MODE``, else ``sqlite``."""
    name = (option or os.environ.get(MODE_ENV) or DEFAULT_MODE).strip().lower()
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"unknown Airflow mode {name!r}; choose one of {', '.join(MODES)}") from None


def unavailable_reason(mode: Mode) -> str | None:
    """Why this machine cannot run ``mode`` (a skip reason), or None if it can."""
    for distribution in _DISTRIBUTIONS.get(mode.name, ()):
        if not _installed(distribution):
            return (
                f"mode {mode.name!r} needs {distribution} in this Python environment "
                "(the e2e extra: make bootstrap installs it)"
            )
    if mode.database == "postgres":
        reason = postgres_unavailable()
        if reason:
            return f"mode {mode.name!r}: {reason}"
    if mode.celery:
        reason = redis_unavailable()
        if reason:
            return f"mode {mode.name!r}: {reason}"
    return None


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
