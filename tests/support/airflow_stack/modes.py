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
from dataclasses import dataclass

from . import services

#: The environment variable that chooses the mode when the pytest option does not.
MODE_ENV = "I2V_E2E_MODE"
DEFAULT_MODE = "sqlite"


@dataclass(frozen=True)
class Mode:
    name: str
    database: str  # "sqlite" | "postgres"
    executor: str  # "LocalExecutor" | "CeleryExecutor"
    triggerers: int
    summary: str

    @property
    def celery(self) -> bool:
        return self.executor == "CeleryExecutor"

    @property
    def components(self) -> tuple[str, ...]:
        """Airflow's processes in this mode, in start order."""
        names = ["api-server", "scheduler", "dag-processor"]
        if self.celery:
            names.append("celery-worker")
        names.append("triggerer")
        names.extend(f"triggerer-{i}" for i in range(2, self.triggerers + 1))
        return tuple(names)


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
        reason = services.postgres_unavailable()
        if reason:
            return f"mode {mode.name!r}: {reason}"
    if mode.celery:
        reason = services.redis_unavailable()
        if reason:
            return f"mode {mode.name!r}: {reason}"
    return None


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
