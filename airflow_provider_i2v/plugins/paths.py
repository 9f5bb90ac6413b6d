"""Where the UI lives: the path prefix of ``[api] base_url`` (shared by the plugin and its app)."""

from __future__ import annotations

from urllib.parse import urlparse


def base_path(base_url: str) -> str:
    """The UI's path prefix from ``[api] base_url`` ("" at the root)."""
    path = urlparse(base_url).path if base_url.startswith(("http://", "https://")) else base_url
    return (path or "").rstrip("/")


def configured_base_path() -> str:
    """:func:`base_path` of this deployment's ``[api] base_url``."""
    from airflow.configuration import conf

    return base_path(conf.get("api", "base_url", fallback="/"))
