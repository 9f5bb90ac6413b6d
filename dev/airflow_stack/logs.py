"""Reading logs back: the tail of a server's log file, and task logs as plain text.

Airflow's REST API returns a task log as structured entries (one JSON object per line,
tracebacks as frame lists). Tests grep them and failure messages quote them, so they are
rendered as the lines a person reads in the UI; the compact form drops what every line
repeats (the task's identity, the source line) and keeps the last frames of a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Keys every line of a task log repeats (the task's identity and the source line).
_CONTEXT_KEYS = frozenset(
    {"ti_id", "dag_id", "run_id", "task_id", "map_index", "try_number", "filename", "lineno", "loc"}
)
_ALWAYS_SKIPPED = frozenset({"timestamp", "level", "event", "logger", "error_detail", "sources"})
_SOURCES_GROUP = "::group::Log message source details"
#: Levels that mean something went wrong (structlog's names, lower case).
ERROR_LEVELS = frozenset({"error", "critical", "fatal", "exception"})
#: A line of Airflow's console log (``dag.test()``, a component's output) at one of them.
_CONSOLE_ERROR = re.compile(r"\[(?:error|critical|fatal|exception)\s*\]", re.IGNORECASE)


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a (possibly large, possibly growing) text file."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(data.splitlines()[-lines:])


def render_task_log(content: Iterable[Any], *, compact: bool = False) -> str:
    """The entries of ``GET .../logs/{try}`` as text lines.

    ``compact`` also drops Airflow's ``::group::`` markers and the group listing the log's
    sources (which files were read, from which server).
    """
    lines: list[str] = []
    in_sources = False
    for entry in content:
        if compact:
            event = str(entry.get("event", "")) if isinstance(entry, dict) else str(entry)
            if event == _SOURCES_GROUP:
                in_sources = True
            if in_sources:
                in_sources = event != "::endgroup::"
                continue
            if event.startswith("::"):
                continue
        lines.append(render_entry(entry, compact=compact))
    return "\n".join(lines)


def render_entry(entry: Any, *, compact: bool = False) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    parts = [str(entry.get(k)) for k in ("timestamp", "level") if entry.get(k)]
    line = f"{' '.join(parts)} {entry.get('event', '')}".strip()
    skip = _ALWAYS_SKIPPED | _CONTEXT_KEYS if compact else _ALWAYS_SKIPPED
    extras = {k: v for k, v in entry.items() if k not in skip}
    if extras:
        line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
    details = entry.get("error_detail")
    if details:
        line += "\n" + render_error_detail(details, max_frames=4 if compact else None)
    return line


def render_error_detail(details: Any, *, max_frames: int | None = None) -> str:
    lines: list[str] = []
    for exc in details if isinstance(details, list) else [details]:
        if not isinstance(exc, dict):
            lines.append(str(exc))
            continue
        frames = list(exc.get("frames") or [])
        if max_frames is not None and len(frames) > max_frames:
            lines.append(f"  ... {len(frames) - max_frames} frames")
            frames = frames[-max_frames:]
        for frame in frames:
            where = f'"{frame.get("filename")}", line {frame.get("lineno")}'
            lines.append(f"  File {where}, in {frame.get('name')}")
        lines.append(f"{exc.get('exc_type')}: {exc.get('exc_value')}")
    return "\n".join(lines)


def is_error_entry(entry: Any) -> bool:
    """Whether a structured task-log entry was logged at error level or above."""
    return isinstance(entry, dict) and str(entry.get("level", "")).lower() in ERROR_LEVELS


def console_error_lines(text: str) -> list[str]:
    """The error-level lines of console log output (structlog's ``[error    ]`` column)."""
    return [line for line in text.splitlines() if _CONSOLE_ERROR.search(line)]
