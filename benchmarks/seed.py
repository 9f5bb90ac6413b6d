"""Create deferred task instances with their triggers, straight in Airflow's database.

Run in the environment of a benchmark's Airflow (``AIRFLOW_HOME`` and the rest)::

    python -m benchmarks.seed RUN_ID TRIGGERS_JSON_FILE

``TRIGGERS_JSON_FILE`` holds a JSON list of ``{"classpath", "kwargs"}``, one per task instance. A new DAG
run of ``i2v_bench_triggers`` gets one mapped task instance of ``wait`` per entry, each in
state ``deferred`` on a fresh trigger, exactly the rows ``TaskInstance.defer_task`` writes
when a task defers; the triggerer picks them up as it would after real deferrals. No
scheduler runs, so nothing ever resumes them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DAG_ID = "i2v_bench_triggers"
TASK_ID = "wait"


def seed(run_id: str, triggers: list[dict[str, Any]]) -> int:
    from airflow._shared.timezones import timezone
    from airflow.models.dag_version import DagVersion
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import delete, select

    with create_session() as session:
        dag = SerializedDagModel.get_dag(DAG_ID, session=session)
        if dag is None:
            raise SystemExit(f"DAG {DAG_ID} is not serialized: run `airflow dags reserialize` first")
        version = session.scalars(
            select(DagVersion).where(DagVersion.dag_id == DAG_ID).order_by(DagVersion.version_number.desc())
        ).first()
        now = timezone.utcnow()
        run = dag.create_dagrun(
            run_id=run_id,
            run_after=now,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            state=DagRunState.RUNNING,
            start_date=now,
            session=session,
        )
        session.flush()
        session.execute(delete(TaskInstance).where(TaskInstance.run_id == run.run_id))
        task = dag.get_task(TASK_ID)
        rows = [Trigger(classpath=t["classpath"], kwargs=t["kwargs"]) for t in triggers]
        session.add_all(rows)
        session.flush()
        for index, trigger in enumerate(rows):
            ti = TaskInstance(task, dag_version_id=version.id, run_id=run.run_id, map_index=index)
            ti.state = TaskInstanceState.DEFERRED
            ti.try_number = 1
            ti.start_date = now
            ti.trigger_id = trigger.id
            ti.next_method = "execute_complete"
            ti.next_kwargs = {}
            session.add(ti)
        session.commit()
    return len(triggers)


def main(argv: list[str]) -> int:
    run_id, triggers_file = argv
    count = seed(run_id, json.loads(Path(triggers_file).read_text()))
    print(f"seeded {count} deferred task instances")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
