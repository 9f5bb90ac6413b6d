"""docs/batch.md's example DAG, run with ``dag.test()`` against the simulator, from the wheel.

Which block: the one marked ``<!-- recipe: batch/dag -->``; without a marker, the first
``python`` block that both defines a DAG (``@dag`` or ``DAG(``) and calls
``ImageToVideoBatchOperator(``. It runs with its params' defaults, but for two that the
test points into its temporary directory, as docs/testing.md's test does: ``photos`` (a
folder of three JPEG photos the test makes) and ``output_dir``. Nothing else of it may
need the network or a key.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import DOCS, Installed, explain, run_bash
from .markdown import Block, blocks

# The first test of a session also builds and installs (minutes with a cold uv cache).
pytestmark = [pytest.mark.recipes, pytest.mark.e2e, pytest.mark.timeout(1200)]

PAGE = DOCS / "batch.md"
MARKER = "batch/dag"

#: The test the user's project would have: the DAG file as the dag-processor reads it, run once.
RUN_IT = """
from airflow.dag_processing.dagbag import DagBag
from PIL import Image


def test_the_batch_example_succeeds(i2v_simulator, i2v_default_connection, capfd, tmp_path):
    bag = DagBag(dag_folder="dags")
    assert not bag.import_errors, bag.import_errors
    [dag] = [d for d in bag.dags.values() if any(t.task_type == "ImageToVideoBatchOperator" for t in d.tasks)]
    conf = {}
    if "photos" in dag.params:
        photos = tmp_path / "photos"
        photos.mkdir()
        for n, colour in enumerate(["tan", "navy", "olive"]):
            Image.new("RGB", (640, 480), colour).save(photos / f"sku-{n}.jpg")
        conf["photos"] = str(photos)
    if "output_dir" in dag.params:
        conf["output_dir"] = (tmp_path / "videos").as_uri()
    run = dag.test(run_conf=conf or None)
    logged = capfd.readouterr()
    assert run.state == "success"
    assert i2v_simulator.simulator.creations >= 1
    assert [line for line in (logged.out + logged.err).splitlines() if "XCom not found" in line] == []
"""


def batch_example() -> Block:
    """The page's example DAG by the rule in this module's docstring."""
    found = blocks(PAGE)
    marked = [block for block in found if block.name == MARKER]
    if marked:
        return marked[0]
    for block in found:
        defines_dag = re.search(r"^@dag\b|\bDAG\(", block.text, re.MULTILINE)
        if block.lang == "python" and defines_dag and "ImageToVideoBatchOperator(" in block.text:
            return block
    pytest.fail(
        f"{PAGE.name} has no example DAG: mark one with '<!-- recipe: {MARKER} -->', or give it a "
        "python block that defines a DAG with ImageToVideoBatchOperator (see this test's docstring)"
    )


def test_the_batch_example_runs_as_written(installed: Installed, tmp_path: Path) -> None:
    example = batch_example()
    project = tmp_path / "my-dags"
    (project / "dags").mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "dags" / "batch_example.py").write_text(example.text)
    (project / "tests" / "test_batch_example.py").write_text(RUN_IT)
    script = (
        "export AIRFLOW_HOME=$PWD/.airflow-test-home AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags "
        "AIRFLOW__CORE__LOAD_EXAMPLES=False\n"
        "airflow db migrate >/dev/null\n"
        "pytest -p no:cacheprovider tests\n"
    )
    result = run_bash(script, project, installed.env(), timeout=600)
    assert result.returncode == 0, f"{PAGE.name} line {example.line}:\n" + explain(result)
    assert "1 passed" in result.stdout
