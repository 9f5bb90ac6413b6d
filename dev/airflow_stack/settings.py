"""The environment every process of a stack runs with: Airflow's settings for one mode.

Why the non-default values are what they are (the values themselves are the code):

* The stack is hermetic: its own home, database, secrets and loopback ports, so two stacks
  (a test beside a demo) never meet; the caller's ``AIRFLOW_*`` variables are dropped.
* Components run separately, as in production, so they share one JWT secret and reach the
  api-server's execution API by URL.
* A 2-core machine: few task slots, few parser processes.
* Tests should wait seconds, not minutes: the DAG folder is rescanned quickly, heartbeats
  are every second, and with one triggerer a SIGKILLed one is declared dead after 10 s.
* With several triggerers the triggerer keeps Airflow's defaults (heartbeat every 5 s, dead
  after 30 s): a triggerer's loop stalls for 12-13 s on this 2-core machine the first time
  it serves a trigger (it builds its in-process execution API), and with a 10 s threshold
  the other triggerer took its triggers over meanwhile, so both polled them for a while.
* ``[workers] min_heartbeat_interval=1`` avoids a deferral race of Airflow 3.3 (a
  trigger firing within ~5 s of deferring could fail the task).
* Two triggerers on one machine need their own trigger log server ports.
* ``[scheduler] use_job_schedule`` keeps its default (on): without it the scheduler creates
  no asset-triggered runs, and the example ``i2v_published_videos`` runs on the asset events
  of ``i2v_product_videos``.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .mode import Mode

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@dataclass
class Ports:
    api: int
    worker_log: int
    #: Triggerer component name -> its ``[logging] trigger_log_server_port``.
    trigger_log: dict[str, int] = field(default_factory=dict)


@dataclass
class Backends:
    """Where the metadata database (and, for Celery, broker and results) live."""

    database_url: str
    broker_url: str | None = None
    result_backend: str | None = None


def stack_environment(
    *,
    mode: Mode,
    home: Path,
    dags_folder: Path,
    ports: Ports,
    backends: Backends,
    username: str,
    parallelism: int,
    pythonpath: Sequence[str] = (),
    inherit_airflow_env: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The components' environment; ``extra`` is applied last and overrides anything."""
    env = {k: v for k, v in os.environ.items() if inherit_airflow_env or not k.startswith("AIRFLOW")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*pythonpath, *filter(None, [env.get("PYTHONPATH")])])
    api_url = f"http://127.0.0.1:{ports.api}"
    first_triggerer_port = ports.trigger_log.get("triggerer", 0)
    settings = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": mode.executor,
        "AIRFLOW__CORE__PARALLELISM": str(parallelism),
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "simple_auth_manager_passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": backends.database_url,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(ports.api),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_log),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(first_triggerer_port),
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(home / "dag_bundles"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "2",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
        # setproctitle must not clobber /proc/PID/environ: stragglers are found by a marker there.
        "SPT_NOENV": "1",
    }
    if mode.triggerers == 1:
        settings |= {
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
        }
    if mode.celery:
        settings |= {
            "AIRFLOW__CELERY__BROKER_URL": backends.broker_url or "",
            "AIRFLOW__CELERY__RESULT_BACKEND": backends.result_backend or "",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
        }
    env.update(settings)
    env.update(extra or {})
    return env


def component_environment(name: str, ports: Ports) -> dict[str, str]:
    """What differs between components of one stack (each triggerer's log server port)."""
    if name in ports.trigger_log:
        return {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_log[name])}
    return {}
