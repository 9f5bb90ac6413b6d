"""Generation statuses: the three the provider acts on, and every spelling that maps to them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class GenerationStatus(enum.StrEnum):
    """The three states the provider acts on; every spelling maps to one of them."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not GenerationStatus.RUNNING

    @property
    def wire(self) -> str:
        """The spelling the vendor's CLI source documents (what the simulator says by default)."""
        return _WIRE[self]


_WIRE: Mapping[GenerationStatus, str] = {
    GenerationStatus.RUNNING: "in_progress",
    GenerationStatus.COMPLETED: "completed",
    GenerationStatus.FAILED: "failed",
}

#: Every spelling documented or seen (lower case; compared case-insensitively).
STATUS_SPELLINGS: Mapping[str, GenerationStatus] = {
    **{spelling: status for status, spelling in _WIRE.items()},
    # Seen in the vendor's docs for sibling models on the same endpoint (tolerate).
    "pending": GenerationStatus.RUNNING,
    "in_queue": GenerationStatus.RUNNING,
    "processing": GenerationStatus.RUNNING,
    "success": GenerationStatus.COMPLETED,
}


def normalise_status(raw: Any) -> tuple[GenerationStatus, bool]:
    """Map a raw status to ``(status, known)``. Unknown spellings are "still running"."""
    if isinstance(raw, str):
        status = STATUS_SPELLINGS.get(raw.strip().lower())
        if status is not None:
            return status, True
    return GenerationStatus.RUNNING, False
