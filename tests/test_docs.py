"""The user documentation builds cleanly and covers every public name of the product.

* ``mkdocs build --strict`` must succeed: a broken link or anchor, a page missing from the
  navigation or a snippet path that does not exist (the example DAG is included from its
  file, never copied) fails the build.
* Every public name of the provider (the names DAG authors rely on) is importable (or
  registered) and appears in the docs.
* Every ``python`` code block in the docs is valid Python, and README's example of the
  result has exactly the keys the operator returns.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
MKDOCS_YML = REPO / "mkdocs.yml"

#: The public names: the import paths.
PUBLIC_IMPORTS = [
    "airflow_provider_i2v.hooks.i2v.I2VHook",
    "airflow_provider_i2v.operators.i2v.ImageToVideoOperator",
    "airflow_provider_i2v.triggers.i2v.I2VTaskTrigger",
    "airflow_provider_i2v.sensors.i2v.I2VTaskSensor",
    "airflow_provider_i2v.exceptions",
]
#: The public names: the other names (connection type, default id, simulator commands).
PUBLIC_TERMS = [
    "`i2v`",
    "Image to Video (Vtrix)",
    "i2v_default",
    "i2v-simulator",
    "python -m airflow_provider_i2v.simulator",
    "generation_id",
]
SIMULATOR_SCRIPT = ("i2v-simulator", "airflow_provider_i2v.simulator.__main__:main")

_IMPORT_PATH = re.compile(r"`(airflow_provider_i2v(?:\.\w+)+)`")
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def docs_text() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in sorted(DOCS.rglob("*.md")))


def resolve(dotted: str) -> object:
    """Import ``dotted``: a module, or an attribute of the longest importable module prefix."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise ModuleNotFoundError(dotted)


@pytest.mark.e2e  # a subprocess building the whole site: the end-to-end tier
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    for module in ("mkdocs", "pymdownx"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed; the dev extra brings mkdocs and pymdown-extensions")
    site = tmp_path / "site"
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(MKDOCS_YML)]
    result = subprocess.run(
        [*command, "--site-dir", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "WARNING" not in output, output[-5000:]
    operators_page = (site / "operators" / "index.html").read_text(encoding="utf-8")
    assert "def i2v_product_videos()" in operators_page  # the example DAG, included from its file


@pytest.mark.parametrize("dotted", PUBLIC_IMPORTS)
def test_public_name_is_importable(dotted: str) -> None:
    assert resolve(dotted) is not None


@pytest.mark.parametrize("name", PUBLIC_IMPORTS + PUBLIC_TERMS)
def test_public_name_is_documented(name: str) -> None:
    assert name in docs_text(), f"{name!r} is not mentioned anywhere under docs/"


def test_connection_names_are_registered() -> None:
    from airflow_provider_i2v.get_provider_info import get_provider_info
    from airflow_provider_i2v.hooks.i2v import I2VHook

    [connection_type] = get_provider_info()["connection-types"]
    assert connection_type["connection-type"] == "i2v"
    assert connection_type["hook-name"] == "Image to Video (Vtrix)"
    assert connection_type["hook-class-name"] == PUBLIC_IMPORTS[0]
    assert I2VHook.default_conn_name == "i2v_default"


def test_simulator_commands_exist() -> None:
    assert callable(resolve(SIMULATOR_SCRIPT[1].replace(":", ".")))
    assert importlib.util.find_spec("airflow_provider_i2v.simulator.__main__") is not None
    try:
        scripts = importlib.metadata.entry_points(group="console_scripts")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - defensive
        scripts = importlib.metadata.EntryPoints()
    ours = {entry.name: entry.value for entry in scripts if entry.name == SIMULATOR_SCRIPT[0]}
    if not ours:
        pytest.skip("the distribution is not installed, so its console scripts are not registered")
    assert ours == {SIMULATOR_SCRIPT[0]: SIMULATOR_SCRIPT[1]}


def test_the_readme_result_example_has_the_keys_the_operator_returns() -> None:
    """README's "The task returns" dict: the keys of a real result (with output_dir)."""
    from airflow_provider_i2v.generation.outcome import Outcome
    from airflow_provider_i2v.generation.results import build_result
    from airflow_provider_i2v.protocol import GenerationStatus

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("The task returns", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    shown = ast.parse(block.split("}  #", 1)[0] + "}", mode="eval").body
    assert isinstance(shown, ast.Dict)
    keys = {key.value for key in shown.keys if isinstance(key, ast.Constant)}
    outcome = Outcome("g", GenerationStatus.COMPLETED, video_urls=("u",), usage={"cost": "0.2800"})
    file = {"uri": "s3://b/g.mp4", "size": 1, "sha256": "x", "source_url": "u"}
    assert keys == set(build_result(outcome, model="m", files=[file]))


def test_python_examples_parse() -> None:
    blocks = _PYTHON_BLOCK.findall(docs_text())
    assert blocks
    for block in blocks:
        if "--8<--" in block:  # a snippet include: the included file is tested where it lives
            continue
        try:
            compile(block, "<docs>", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError as exc:
            pytest.fail(f"invalid Python in a docs example ({exc}):\n{block}")
