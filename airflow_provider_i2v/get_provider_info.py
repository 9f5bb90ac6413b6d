"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Connection form fields are declarative (``conn-fields`` / ``ui-field-behaviour``), as
Airflow 3.2+ expects: the UI renders them without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_i2v import __version__
from airflow_provider_i2v.hooks.settings import CONN_TYPE, EXTRAS, HOOK_NAME
from airflow_provider_i2v.protocol import DEFAULT_BASE_URL

INTEGRATION = "Vtrix Image to Video"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-i2v",
        "name": HOOK_NAME,
        "description": "Image-to-video generation on the Vtrix gateway (MiniMax I2V-01-Live): "
        "hook, deferrable operator, trigger, sensor and a local gateway simulator.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://cloud.vtrix.ai",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_i2v.hooks.i2v"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_i2v.operators.i2v",
                    "airflow_provider_i2v.operators.batch",
                ],
            }
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_i2v.sensors.i2v"]}
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_i2v.triggers.i2v",
                    "airflow_provider_i2v.triggers.batch",
                ],
            }
        ],
        "extra-links": [
            "airflow_provider_i2v.links.i2v.I2VVideoLink",
            "airflow_provider_i2v.links.i2v.I2VBatchManifestLink",
        ],
        "plugins": [
            {
                "name": "i2v_video_generations",
                "plugin-class": "airflow_provider_i2v.plugins.generations.VideoGenerationsPlugin",
            }
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_i2v.hooks.i2v.I2VHook",
                "hook-name": HOOK_NAME,
                "conn-fields": {extra.name: extra.form_field() for extra in EXTRAS},
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Gateway URL", "password": "API key"},
                    "placeholders": {
                        "host": DEFAULT_BASE_URL,
                        "password": "Vtrix API key (sent as a Bearer token)",
                    },
                },
            }
        ],
    }
