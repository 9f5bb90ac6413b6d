"""One deployment of Airflow, as data: its database, executor and triggerers.

Apart from :mod:`.modes` (the three modes and whether this machine can run them) so that
the modules a mode configures (:mod:`.settings`, :mod:`.services`) need not import it.
"""

from __future__ import annotations

from dataclasses import dataclass


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
