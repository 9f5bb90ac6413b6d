"""A real, local Apache Airflow 3.3 for end-to-end tests and the demo.

Usage::

    with AirflowStack("example_dags", mode="postgres", env={"AIRFLOW_CONN_X": "..."}) as stack:
        run = stack.client.run_dag("my_dag", conf={"n": 3}, timeout=300)
        assert run["state"] == "success"

One job per module: :mod:`.stack` (the stack's life cycle), :mod:`.modes` (sqlite,
postgres, celery), :mod:`.settings` (the components' environment), :mod:`.commands`
(their command lines), :mod:`.services` (PostgreSQL, Redis), :mod:`.processes`
(starting and stopping processes by pid), :mod:`.watchdog` (stopping them if the test
process dies), :mod:`.readiness` (when a component is up), :mod:`.client` and
:mod:`.task_instances` (the REST API), :mod:`.logs` (reading logs back),
:mod:`.pytest_plugin` (the ``--airflow-mode`` option).
"""

from __future__ import annotations

from .client import TERMINAL_RUN_STATES, AirflowClient, ApiError
from .commands import airflow_executable
from .modes import DEFAULT_MODE, MODE_ENV, MODES, Mode, resolve_mode, unavailable_reason
from .processes import StackError, WaitTimeout, wait_until
from .stack import AirflowStack
from .task_instances import TERMINAL_TI_STATES, ti_label

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "MODE_ENV",
    "TERMINAL_RUN_STATES",
    "TERMINAL_TI_STATES",
    "AirflowClient",
    "AirflowStack",
    "ApiError",
    "Mode",
    "StackError",
    "WaitTimeout",
    "airflow_executable",
    "resolve_mode",
    "ti_label",
    "unavailable_reason",
    "wait_until",
]
