"""The ``airflow`` command lines a stack runs: each component, ``db migrate``, any CLI call.

Always the ``airflow`` of the Python environment running the tests (so the worktree's
provider is what Airflow loads), never one found on ``PATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .logs import tail
from .processes import StackError


def airflow_executable() -> list[str]:
    """The command that runs the ``airflow`` CLI of the current Python environment."""
    candidate = Path(sys.executable).parent / "airflow"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return [str(candidate)]
    return [sys.executable, "-m", "airflow"]


def component_command(name: str, *, api_port: int, parallelism: int) -> list[str]:
    """``triggerer-2`` is a second ``airflow triggerer``; ``celery-worker`` one Celery worker."""
    base = airflow_executable()
    if name == "api-server":
        return [*base, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"]
    if name == "celery-worker":
        return [*base, "celery", "worker", "--concurrency", str(parallelism)]
    if name.startswith("triggerer"):
        return [*base, "triggerer"]
    return [*base, name]


def migrate(env: Mapping[str, str], *, cwd: Path, log: Path, timeout: float) -> None:
    """``airflow db migrate`` on the stack's fresh database, its output appended to ``log``."""
    with log.open("ab") as out:
        try:
            result = subprocess.run(
                [*airflow_executable(), "db", "migrate"],
                env=dict(env),
                cwd=str(cwd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"airflow db migrate took over {timeout}s\n{tail(log)}") from exc
    if result.returncode != 0:
        raise StackError(f"airflow db migrate exited {result.returncode}\n--- {log}\n{tail(log)}")


def run_cli(
    args: tuple[str, ...],
    env: Mapping[str, str],
    *,
    cwd: Path,
    timeout: float,
    check: bool,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*airflow_executable(), *args],
        env=dict(env),
        cwd=str(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )
    if check and result.returncode != 0:
        raise StackError(
            f"airflow {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result
