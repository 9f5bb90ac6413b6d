"""What the wheel and the sdist that docs/installation.md builds hold, and what the wheel installs."""

from __future__ import annotations

import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from .conftest import REPO, Installed, explain, run_bash

# The first test of a session also builds and installs (minutes with a cold uv cache).
pytestmark = [pytest.mark.recipes, pytest.mark.e2e, pytest.mark.timeout(1200)]

ENTRY_POINTS = {
    "console_scripts": "i2v-simulator = airflow_provider_i2v.simulator.__main__:main",
    "apache_airflow_provider": "provider_info = airflow_provider_i2v.get_provider_info:get_provider_info",
    "pytest11": "i2v = airflow_provider_i2v.testing",
}


def test_the_wheel_holds_the_package_its_license_and_entry_points(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        license_text = wheel.read(f"{dist_info}/licenses/LICENSE").decode()
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        metadata = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
    assert license_text == (REPO / "LICENSE").read_text()
    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert "airflow_provider_i2v/py.typed" in names
    assert {n.split("/")[0] for n in names} == {"airflow_provider_i2v", dist_info}  # no tests/, benchmarks/
    for group, line in ENTRY_POINTS.items():
        assert f"[{group}]\n{line}" in entry_points
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata.get_all("Project-URL")
    assert {"simulator", "video", "openlineage", "e2e", "bench", "dev"} <= set(
        metadata.get_all("Provides-Extra")
    )


def test_the_sdist_holds_the_source_tests_and_docs(installed: Installed) -> None:
    with tarfile.open(installed.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in (
        "LICENSE",
        "README.md",
        "CONTRIBUTING.md",
        "pyproject.toml",
        "airflow_provider_i2v/py.typed",
    ):
        assert needed in names
    assert any(n.startswith("tests/") for n in names)
    assert any(n.startswith("docs/") for n in names)
    assert not any(
        n.startswith((".venv/", "tests/.airflow-home/", "demo-output/", ".artifacts/")) for n in names
    )


def test_the_installed_wheel_is_what_airflow_and_pytest_see(installed: Installed, tmp_path: Path) -> None:
    """The three entry points work from the fresh virtualenv (not the project's, not the source)."""
    script = (
        "i2v-simulator --help | head -1\n"
        "airflow providers list 2>/dev/null | grep airflow-provider-i2v\n"
        "python -c 'import airflow_provider_i2v, sys; print(airflow_provider_i2v.__file__)'\n"
        "pytest --fixtures -p no:cacheprovider 2>/dev/null | grep -E '^i2v_(simulator|default_connection)'\n"
    )
    result = run_bash(script, tmp_path, installed.env(AIRFLOW_HOME=str(tmp_path / "home")))
    assert result.returncode == 0, explain(result)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("usage: i2v-simulator")
    assert "airflow-provider-i2v" in lines[1]
    assert lines[2].startswith(str(installed.venv))  # the wheel's copy, not this checkout
    assert any(line.startswith("i2v_simulator") for line in lines[3:])
