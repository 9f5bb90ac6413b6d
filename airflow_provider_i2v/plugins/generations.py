"""The plugin Airflow loads from the provider info: the "Video generations" page.

Airflow imports this module in every component that loads plugins (scheduler,
dag-processor, workers): it imports nothing but :class:`AirflowPlugin` and builds the
FastAPI app (FastAPI, the queries, the hook) only on the api-server, the way Airflow's
edge3 provider does. The UI entries are plain dicts.

* ``fastapi_apps``: the page and its JSON API under ``/i2v``;
* ``external_views``: "Video generations" in the navigation (the page opens inside the
  UI at ``/plugin/video-generations``), and a "Video generations" tab on every task
  instance that opens the page filtered to that task instance (on Airflow 3.3 a tab
  cannot be limited to some operators; on other tasks it says there is nothing).

Registration. Airflow 3.3 documents provider plugins as ``plugins`` in the provider info,
and that is where this one is declared; but 3.3.2 loads those only with ``[core]
lazy_discover_providers = False`` (``plugins_manager._get_plugins``), and the default is
True. So the package also names :data:`entry_point_plugin` in the ``airflow.plugins``
entry-point group, which Airflow always reads: it is this class when the provider info's
plugins are skipped, and None (ignored by Airflow) when they are loaded, so the plugin is
registered exactly once either way.
"""

from __future__ import annotations

import sys
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_i2v.plugins.paths import base_path, configured_base_path

__all__ = ["VideoGenerationsPlugin", "base_path", "entry_point_plugin"]

URL_PREFIX = "/i2v"
PAGE_NAME = "Video generations"
PAGE_ROUTE = "video-generations"
TAB_ROUTE = "video-generations-task"


def running_on_api_server(argv: list[str] | None = None) -> bool:
    """Whether this process is ``airflow api-server`` (its uvicorn/gunicorn workers keep its argv)."""
    args = sys.argv if argv is None else argv
    return len(args) > 1 and args[1] == "api-server"


def build_external_views(prefix: str = "") -> list[dict[str, Any]]:
    page = f"{prefix}{URL_PREFIX}/"
    return [
        {
            "name": PAGE_NAME,
            "href": page,
            "destination": "nav",
            "category": "browse",
            "url_route": PAGE_ROUTE,
            "icon": f"{prefix}{URL_PREFIX}/static/icon.svg",
            "icon_dark_mode": f"{prefix}{URL_PREFIX}/static/icon-dark.svg",
        },
        {
            "name": PAGE_NAME,
            "href": page
            + "?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}&embed=task",
            "destination": "task_instance",
            "url_route": TAB_ROUTE,
            "icon": f"{prefix}{URL_PREFIX}/static/icon.svg",
            "icon_dark_mode": f"{prefix}{URL_PREFIX}/static/icon-dark.svg",
        },
    ]


def build_fastapi_apps() -> list[dict[str, Any]]:
    """The app entry (imports FastAPI and the page's modules: call it on the api-server only)."""
    from airflow_provider_i2v.plugins.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": PAGE_NAME}]


class VideoGenerationsPlugin(AirflowPlugin):
    """What the provider's operators generated, what it cost and what failed, in the Airflow UI."""

    name = "i2v_video_generations"
    external_views = build_external_views(configured_base_path())
    if running_on_api_server():
        fastapi_apps = build_fastapi_apps()


def _entry_point_plugin() -> type[AirflowPlugin] | None:
    from airflow import settings

    return VideoGenerationsPlugin if settings.LAZY_LOAD_PROVIDERS else None


#: What the ``airflow.plugins`` entry point names (see the module's docstring).
entry_point_plugin = _entry_point_plugin()
