"""The REST API's unexpected answers, apart from the client so that every module of the
client (:mod:`.client`, :mod:`.task_instances`) can raise and catch it without importing
the other."""

from __future__ import annotations


class ApiError(RuntimeError):
    """The Airflow REST API answered with an unexpected status."""

    def __init__(self, method: str, url: str, status_code: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status_code}: {body[:2000]}")
        self.status_code = status_code
        self.body = body
