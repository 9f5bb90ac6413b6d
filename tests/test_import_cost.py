"""A DAG file that imports the operator pays nothing for httpx, Pillow, the simulator or
OpenLineage.

Airflow's own task SDK already imports httpx, so "httpx in sys.modules" proves nothing.
The check instead *poisons* the heavy modules (``sys.modules[name] = None`` makes any
later ``import name`` fail) after ``airflow.sdk`` is loaded, then parses the example
DAG: if the provider imported httpx, Pillow, tenacity or the simulator at parse time,
the DAG import would fail. OpenLineage is not poisoned (Airflow reads every installed
provider's metadata, the OpenLineage provider's included), but neither its client nor the
provider's extractors nor our lineage module may be loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib.util, json, sys
import airflow.sdk  # the baseline every DAG file pays anyway
poisoned = ["httpx", "PIL", "PIL.Image", "tenacity", "uvicorn", "starlette"]
for name in poisoned:
    sys.modules[name] = None
spec = importlib.util.spec_from_file_location("example_dag", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import airflow_provider_i2v.sensors.i2v  # the sensor too
loaded = sorted(m for m in sys.modules if m.startswith("airflow_provider_i2v"))
lineage = sorted(m for m in sys.modules if m.startswith(
    ("openlineage", "airflow.providers.openlineage.extractors", "airflow_provider_i2v.lineage")
))
print(json.dumps({"loaded": loaded, "lineage": lineage}))
"""


def test_parsing_the_example_dag_imports_nothing_heavy(tmp_path: Path) -> None:
    dag_file = REPO / "example_dags" / "i2v_product_videos.py"
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(dag_file)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    loaded = found["loaded"]
    assert found["lineage"] == []
    assert "airflow_provider_i2v.operators.i2v" in loaded
    for heavy in ("hooks.transport", "outputs", "images", "simulator"):
        assert not any(m.startswith(f"airflow_provider_i2v.{heavy}") for m in loaded), loaded
