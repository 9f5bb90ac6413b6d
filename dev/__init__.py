"""Developer tooling: a real local Airflow stack, the demo, and their helpers (not shipped)."""
