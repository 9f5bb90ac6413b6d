"""The plugin is registered through the provider info, and costs nothing outside the api-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_i2v.get_provider_info import get_provider_info

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
PLUGIN_CLASS = "airflow_provider_i2v.plugins.generations.VideoGenerationsPlugin"

SCRIPT = r"""
import json, sys
sys.argv = sys.argv[1:]  # what the component was started as
import airflow.plugins_manager  # every component that loads plugins has this already
before = set(sys.modules)
import importlib
plugin = importlib.import_module("airflow_provider_i2v.plugins.generations").VideoGenerationsPlugin
new = sorted(m for m in set(sys.modules) - before)
print(json.dumps({
    "apps": [{"url_prefix": a["url_prefix"], "name": a["name"]} for a in plugin.fastapi_apps],
    "views": [(v["url_route"], v["destination"], v["href"]) for v in plugin.external_views],
    "new": new,
}))
"""


def load(argv: list[str], tmp_path: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_provider_info_registers_the_plugin() -> None:
    info = get_provider_info()
    assert info["plugins"] == [{"name": "i2v_video_generations", "plugin-class": PLUGIN_CLASS}]
    assert info["connection-types"][0]["connection-type"] == "i2v"  # the rest is intact
    from airflow.providers_manager import ProvidersManager  # validates against Airflow's schema

    manager = ProvidersManager()
    manager.initialize_providers_plugins()
    assert PLUGIN_CLASS in {plugin.plugin_class for plugin in manager.plugins}


def test_outside_the_api_server_the_plugin_builds_no_app(tmp_path: Path) -> None:
    loaded = load(["airflow", "scheduler"], tmp_path)
    assert loaded["apps"] == []
    new = loaded["new"]
    assert isinstance(new, list)
    assert "airflow_provider_i2v.plugins.generations" in new
    for heavy in (
        "fastapi",
        "starlette",
        "httpx",
        "airflow_provider_i2v.plugins.",
        "airflow_provider_i2v.hooks",
    ):
        light = ("airflow_provider_i2v.plugins.generations", "airflow_provider_i2v.plugins.paths")
        assert not any(str(m).startswith(heavy) for m in new if m not in light), (
            heavy,
            new,
        )


def test_on_the_api_server_the_app_and_the_views_are_there(tmp_path: Path) -> None:
    loaded = load(["airflow", "api-server", "--port", "1"], tmp_path)
    assert loaded["apps"] == [{"url_prefix": "/i2v", "name": "Video generations"}]
    views = {route: (destination, href) for route, destination, href in loaded["views"]}  # type: ignore[attr-defined]
    assert views["video-generations"] == ("nav", "/i2v/")
    destination, href = views["video-generations-task"]
    assert destination == "task_instance"
    for placeholder in ("{DAG_ID}", "{RUN_ID}", "{TASK_ID}", "{MAP_INDEX}"):
        assert placeholder in href


@pytest.mark.parametrize(("lazy", "expected"), [("True", "VideoGenerationsPlugin"), ("False", "None")])
def test_the_entry_point_registers_the_plugin_once_whatever_lazy_discovery_says(
    tmp_path: Path, lazy: str, expected: str
) -> None:
    """3.3.2 reads provider-info plugins only when provider discovery is not lazy: the entry
    point stands in for them otherwise, and steps aside (None: skipped by Airflow) when not."""
    script = (
        "import airflow_provider_i2v.plugins.generations as g; "
        "print(getattr(g.entry_point_plugin, '__name__', g.entry_point_plugin))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "AIRFLOW_HOME": str(tmp_path),
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": lazy,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == expected
