"""Developer tooling: the demo and the bootstrap script (not shipped). The real-Airflow
harness they use lives in :mod:`tests.support.airflow_stack`."""
