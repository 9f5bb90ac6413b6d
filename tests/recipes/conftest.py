"""The recipe tier's shared state: one build and one fresh virtualenv per session.

What a new user does, in a throw-away directory, with nothing of this checkout's
environment: the sdist of this checkout is unpacked (a clone without its history),
docs/installation.md's build and install commands run there verbatim, and every recipe
test then works in that virtualenv. The tests run their commands with ``bash``, with
``AIRFLOW_*`` and the project's own virtualenv taken out of the environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from .markdown import recipe

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
#: Generous: a cold uv cache downloads Airflow (a warm one installs it in seconds).
INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class Installed:
    """The unpacked source, what the docs' build made in it, and the virtualenv it went into."""

    source: Path
    wheel: Path
    sdist: Path
    venv: Path
    tools: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A user's shell with the virtualenv activated (its ``bin`` first on ``PATH``)."""
        return {
            **clean_env(self.tools),
            "VIRTUAL_ENV": str(self.venv),
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{clean_env(self.tools)['PATH']}",
            **extra,
        }


def clean_env(tools: Path) -> dict[str, str]:
    """This process's environment without Airflow's settings, the test session's AIRFLOW_HOME
    and the project's virtualenv: what a new user's shell has, plus ``uv`` on ``PATH``."""
    ours = str(Path(sys.executable).parent)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != ours]
    drop = ("AIRFLOW_", "AIRFLOW__", "I2V_", "PYTHON", "VIRTUAL_ENV", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["PATH"] = os.pathsep.join([str(tools), *path])
    return env


def run_bash(
    script: str, cwd: Path, env: Mapping[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``script`` as a user's shell runs it, stopping at the first failing command."""
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
    )


def _uv() -> str:
    """The ``uv`` executable: on PATH, else the one the ``uv`` Python package ships."""
    found = shutil.which("uv")
    if found:
        return found
    for python in ("python3", sys.executable):
        probe = subprocess.run(
            [python, "-c", "import uv; print(uv.find_uv_bin())"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            return probe.stdout.strip()
    pytest.fail("the recipe tier needs uv (make bootstrap installs it)")


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """docs/installation.md's ``uv build`` and install, verbatim, in the unpacked sdist."""
    work = tmp_path_factory.mktemp("recipes")
    tools = work / "tools"
    tools.mkdir()
    (tools / "uv").symlink_to(_uv())
    env = clean_env(tools)

    # The sdist of this checkout: the source a user gets, without .git, .venv or caches.
    packed = subprocess.run(
        ["uv", "build", "--sdist", "--out-dir", str(work / "sdist"), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert packed.returncode == 0, explain(packed)
    [archive] = (work / "sdist").glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(work / "clone", filter="data")
    [source] = (work / "clone").iterdir()

    built = run_bash(recipe(DOCS / "installation.md", "installation/build").text, source, env, 300)
    assert built.returncode == 0, explain(built)
    [wheel] = (source / "dist").glob("*.whl")
    [sdist] = (source / "dist").glob("*.tar.gz")

    install = recipe(DOCS / "installation.md", "installation/install").text
    done = run_bash(install, source, env, INSTALL_TIMEOUT)
    assert done.returncode == 0, explain(done)
    venvs = [p.parent.parent for p in source.glob("*/bin/activate")]
    assert len(venvs) == 1, f"the install recipe must create one virtualenv, found {venvs}"
    result = Installed(source, wheel, sdist, venvs[0], tools)

    # docs/testing.md: pytest beside the provider in the environment the tests run in.
    extra = run_bash("uv pip install --quiet pytest", source, result.env(), INSTALL_TIMEOUT)
    assert extra.returncode == 0, explain(extra)
    return result
