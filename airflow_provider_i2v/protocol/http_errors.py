"""What an HTTP-level answer means for a client (docs/retries.md, "Create retries" and "Transient errors").

Classification, the rule for which answers prove that a create created nothing,
the message of an error body and ``Retry-After``: facts about the wire, kept beside
each other so that the transport only acts on them.
"""

from __future__ import annotations

import email.utils
import enum
import json
import math
import time

from .errors import message_of


class ErrorKind(enum.Enum):
    """What an HTTP error status means for a client."""

    BAD_REQUEST = "bad_request"  # 400, 422 and other unexpected 4xx: never retry
    AUTH = "auth"  # 401: bad key, never retry
    FORBIDDEN = "forbidden"  # 402, 403: balance or permission, never retry automatically
    NOT_FOUND = "not_found"  # 404 on poll: unknown generation id
    TRANSIENT = "transient"  # 408, 429, 5xx: back off and try again within a budget


#: Transient statuses that say the request was not processed: a create answered with
#: one of them created nothing and may be sent again. A 5xx proves nothing.
NOT_PROCESSED_STATUSES = frozenset({408, 429})
#: The gateway's rate limit: every caller of the account must slow down.
THROTTLED_STATUS = 429


def classify_status(status_code: int) -> ErrorKind:
    """Classify a non-2xx HTTP status."""
    if status_code in NOT_PROCESSED_STATUSES or status_code >= 500:
        return ErrorKind.TRANSIENT
    if status_code == 401:
        return ErrorKind.AUTH
    if status_code in (402, 403):
        return ErrorKind.FORBIDDEN
    if status_code == 404:
        return ErrorKind.NOT_FOUND
    return ErrorKind.BAD_REQUEST


def status_proves_nothing_created(status_code: int) -> bool:
    """Whether a create answered ``status_code`` certainly created no generation.

    Every refusal (4xx) proves it; of the transient answers only 408 and 429 do.
    """
    return status_code in NOT_PROCESSED_STATUSES or 400 <= status_code < 500


def error_message(body: bytes, limit: int = 500) -> str:
    """The message of an error body: ``{"message"}``, ``{"error": str|obj}`` or raw text."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        text = body[:limit].decode("utf-8", errors="replace").strip()
        return text or "(empty body)"
    message = message_of(payload) if isinstance(payload, dict) else None
    return (message or json.dumps(payload))[:limit]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP date; ``None`` if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
