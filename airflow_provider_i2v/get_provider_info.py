"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

Connection form fields are declarative (``conn-fields`` / ``ui-field-behaviour``), as
Airflow 3.2+ expects: the UI renders them without importing the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_i2v import __version__
from airflow_provider_i2v.hooks.settings import (
    CONN_TYPE,
    DEFAULT_BACKOFF_INITIAL,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
)
from airflow_provider_i2v.protocol import DEFAULT_BASE_URL

INTEGRATION = "Vtrix Image to Video"


def _field(label: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": schema}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-i2v",
        "name": "Image to Video (Vtrix)",
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
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_i2v.operators.i2v"]}
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_i2v.sensors.i2v"]}
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["airflow_provider_i2v.triggers.i2v"]}
        ],
        "extra-links": ["airflow_provider_i2v.links.i2v.I2VVideoLink"],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_i2v.hooks.i2v.I2VHook",
                "hook-name": "Image to Video (Vtrix)",
                "conn-fields": {
                    "timeout": _field(
                        "Request timeout (s)",
                        "Seconds to wait for each HTTP request to the gateway.",
                        {"type": ["number", "null"], "default": DEFAULT_TIMEOUT, "minimum": 0.1},
                    ),
                    "max_retries": _field(
                        "Retry budget",
                        "Retries of one request on transient errors (408, 429, 5xx, resets, timeouts). "
                        "A create is repeated only when nothing can have been created.",
                        {"type": ["integer", "null"], "default": DEFAULT_MAX_RETRIES, "minimum": 0},
                    ),
                    "backoff_initial": _field(
                        "Initial back-off (s)",
                        "First wait between retries; doubles each time, with jitter. Retry-After wins.",
                        {"type": ["number", "null"], "default": DEFAULT_BACKOFF_INITIAL, "minimum": 0},
                    ),
                    "backoff_max": _field(
                        "Maximum back-off (s)",
                        "Longest wait between two retries (unless the gateway's Retry-After says more).",
                        {"type": ["number", "null"], "default": DEFAULT_BACKOFF_MAX, "minimum": 0},
                    ),
                    "verify_ssl": _field(
                        "Verify TLS certificates",
                        "Turn off only for a test gateway with a self-signed certificate.",
                        {"type": ["boolean", "null"], "default": True},
                    ),
                    "proxy": _field(
                        "Proxy URL",
                        "HTTP(S) proxy for gateway requests, e.g. http://proxy.internal:3128.",
                        {"type": ["string", "null"]},
                    ),
                },
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
