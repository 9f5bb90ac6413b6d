"""README's "Using it": the same install as docs/installation.md, and a DAG the wheel parses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from .conftest import DOCS, REPO, Installed, explain
from .markdown import blocks, recipe, section

# The first test of a session also builds and installs (minutes with a cold uv cache).
pytestmark = [pytest.mark.recipes, pytest.mark.e2e, pytest.mark.timeout(1200)]

README = REPO / "README.md"


def commands(text: str) -> list[str]:
    """The command lines of a shell block, comments and blank lines left out."""
    return [
        line.split("  #")[0].strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_the_install_commands_are_the_ones_installation_md_runs() -> None:
    """docs/installation.md's commands are run by the tier (conftest); README shows the same."""
    using_it = section(README, "Using it")
    assert "not on PyPI" in using_it
    assert not re.search(r"^pip install airflow-provider-i2v\s*$", using_it, re.MULTILINE)
    documented = commands(recipe(DOCS / "installation.md", "installation/build").text) + commands(
        recipe(DOCS / "installation.md", "installation/install").text
    )
    for command in commands(recipe(README, "readme/install").text):
        assert command in documented, f"README's {command!r} is not what docs/installation.md runs"


def test_the_dag_parses_with_the_wheel(installed: Installed, tmp_path: Path) -> None:
    dag_file = tmp_path / "dags" / "product_videos.py"
    dag_file.parent.mkdir()
    dag_file.write_text(recipe(README, "readme/dag").text)
    probe = (  # what the dag-processor does with the file
        "import sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag(dag_folder=sys.argv[1])\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(sorted(t.task_type for d in bag.dags.values() for t in d.tasks))\n"
    )
    result = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c", probe, str(dag_file)],
        cwd=tmp_path,
        env=installed.env(AIRFLOW_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, explain(result)
    assert result.stdout.strip().splitlines()[-1] == "['ImageToVideoOperator']"


def test_the_connection_examples_are_i2v_connections() -> None:
    exported = [
        line
        for block in blocks(README)
        if block.lang == "bash"
        for line in block.text.splitlines()
        if line.startswith("export AIRFLOW_CONN_I2V_DEFAULT=")
    ]
    assert len(exported) == 2
    for line in exported:
        connection = json.loads(line.split("=", 1)[1].strip("'"))
        assert connection["conn_type"] == "i2v"
        assert connection["password"]
