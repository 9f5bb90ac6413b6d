"""docs/testing.md's DAG project, written from the page into an empty directory and run as it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import DOCS, Installed, explain, run_bash
from .markdown import recipe

# The first test of a session also builds and installs (minutes with a cold uv cache).
pytestmark = [pytest.mark.recipes, pytest.mark.e2e, pytest.mark.timeout(1200)]

PAGE = DOCS / "testing.md"
FILES = ("testing/pyproject", "testing/dag", "testing/test")


def write_project(root: Path) -> list[Path]:
    """Each marked file block of the page at the path its first line names."""
    written = []
    for name in FILES:
        block = recipe(PAGE, name)
        path = root / block.file_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
        written.append(path)
    return written


def test_the_dag_project_passes_its_test_in_a_fresh_directory(installed: Installed, tmp_path: Path) -> None:
    project = tmp_path / "my-dags"
    project.mkdir()
    written = write_project(project)
    assert {p.relative_to(project).as_posix() for p in written} == {
        "pyproject.toml",
        "dags/product_videos.py",
        "tests/test_product_videos.py",
    }
    result = run_bash(recipe(PAGE, "testing/run").text, project, installed.env(), timeout=600)
    assert result.returncode == 0, explain(result)
    assert "1 passed" in result.stdout
    assert (project / ".airflow-test-home" / "airflow.db").exists()  # the home the page sets


def test_without_the_pythonpath_setting_the_trap_the_page_warns_of_is_real(
    installed: Installed, tmp_path: Path
) -> None:
    """The page says why ``pythonpath`` is there: without it, ``dags`` cannot be imported."""
    project = tmp_path / "my-dags"
    project.mkdir()
    write_project(project)
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    result = run_bash("pytest -p no:cacheprovider", project, installed.env(), timeout=300)
    assert result.returncode != 0
    assert "No module named 'dags'" in result.stdout
    assert "No module named 'dags'" in PAGE.read_text()
