"""Which fault hits a request, and the bodies and headers faulted answers carry.

The choice is the only place where faults meet randomness: it draws from the
simulator's seeded ``random.Random`` only for rates strictly between 0 and 1, so a
run is reproducible under a seed, and ``first_n`` faults need no randomness at all.
"""

from __future__ import annotations

import email.utils
import http
import json
import random
import time
from collections.abc import Sequence

from airflow_provider_i2v.protocol import render_error

from .config import Fault, SimConfig

#: What the gateway documents (or a proxy in front of it would say) for each status.
_MESSAGES = {
    401: "API key is missing or invalid",
    402: "Insufficient credits",
    403: "Insufficient balance or permission denied",
    429: "Rate limit exceeded",
    500: "Internal server error",
}
_ERROR_STYLES = ("message", "error_string", "error_object", "text")
_MALFORMED_STYLES = ("truncated", "html", "empty", "not_object")


class FaultPicker:
    """Decides, request by request, which configured fault (if any) fires."""

    def __init__(self) -> None:
        self._faults: Sequence[Fault] = ()
        self._seen: list[int] = []
        self._error_turn = 0
        self._malformed_turn = 0

    def reset(self) -> None:
        self._faults = ()
        self._seen = []
        self._error_turn = 0
        self._malformed_turn = 0

    def pick(self, faults: Sequence[Fault], endpoint: str, rng: random.Random) -> Fault | None:
        """The first fault in ``faults`` that fires on a request to ``endpoint``."""
        if faults is not self._faults:  # a new fault list starts its counts afresh
            self._faults = faults
            self._seen = [0] * len(faults)
        for index, fault in enumerate(faults):
            if not fault.applies_to(endpoint):
                continue
            seen = self._seen[index]
            self._seen[index] = seen + 1
            if fault.first_n is not None:
                fired = seen < fault.first_n
            elif fault.rate >= 1:
                fired = True
            elif fault.rate <= 0:
                fired = False
            else:
                fired = rng.random() < fault.rate
            if fired:
                return fault
        return None

    def error_body(self, config: SimConfig, status: int) -> tuple[bytes, str]:
        """``(body, content type)`` of a faulted HTTP error, in the configured style."""
        style = config.error_body
        if style == "rotate":
            style = _ERROR_STYLES[self._error_turn % len(_ERROR_STYLES)]
            self._error_turn += 1
        message = _MESSAGES.get(status) or _phrase(status)
        if style == "text":
            text = f"<html><body><h1>{status} {_phrase(status)}</h1>{message}</body></html>"
            return text.encode(), "text/html; charset=utf-8"
        if style == "error_string":
            payload: object = {"error": message}
        elif style == "error_object":
            payload = {"error": render_error(message)}
        else:
            payload = render_error(message)
        return json.dumps(payload).encode(), "application/json"

    def malformed_body(self, config: SimConfig, generation_id: str | None) -> bytes:
        """A 200 body no client can read as a generation."""
        style = config.malformed_body
        if style == "rotate":
            style = _MALFORMED_STYLES[self._malformed_turn % len(_MALFORMED_STYLES)]
            self._malformed_turn += 1
        if style == "html":
            return b"<html><body>upstream sent an invalid response</body></html>"
        if style == "empty":
            return b""
        if style == "not_object":
            return b"[]"
        whole = json.dumps({"id": generation_id or "", "status": config.running_status}).encode()
        return whole[: len(whole) // 2]


def retry_after_header(config: SimConfig, status: int) -> str | None:
    """``Retry-After`` for a faulted 429 or 503: delta-seconds or an HTTP date.

    Seconds are written with ``%g`` so a test may ask for ``0.2`` (not strictly
    RFC 9110, which wants an integer; the provider parses both).
    """
    if status not in (429, 503) or config.retry_after is None:
        return None
    if config.retry_after_form == "date":
        return email.utils.formatdate(time.time() + config.retry_after, usegmt=True)
    return f"{config.retry_after:g}"


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"
