"""Developer tooling, not shipped: the demo, the bootstrap script, the real-Airflow harness
(:mod:`dev.airflow_stack`) that the demo, the benchmarks and the end-to-end tests share, and
a task's runtime context for calling operators outside Airflow (:mod:`dev.task_runtime`)."""
