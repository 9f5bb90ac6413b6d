"""The rules of simulator settings that no type, choice or bound can say.

Each is a :data:`~.settings.Check` (what is wrong with a value, or ``None``) or a
``convert`` (a value accepted in a friendlier form, normalised), named in a setting's
declaration in :mod:`.config`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from airflow_provider_i2v.protocol import (
    GenerationStatus,
    is_http_url,
    is_int,
    normalise_error_code,
    normalise_status,
)


def spelling_of(expected: GenerationStatus | None) -> Callable[[Any], str | None]:
    """A status spelling must read as ``expected`` (an unknown one must read as nothing known)."""

    def check(value: Any) -> str | None:
        if not value:
            return "must be a non-empty string"
        status, known = normalise_status(value)
        if expected is None and known:
            return f"{value!r} is a known spelling; an unknown status must be unknown"
        if expected is not None and status is not expected:
            return f"{value!r} does not read as {expected.value!r} (case-insensitively)"
        return None

    return check


def keys(value: Any) -> Any:
    return (value,) if isinstance(value, str) else (() if value is None else value)


def non_empty_keys(keys: tuple[str, ...]) -> str | None:
    return "must be non-empty strings" if not all(keys) else None


def http_url(value: str) -> str | None:
    return None if is_http_url(value) else f"must be an http(s) URL, not {value!r}"


def even(value: int) -> str | None:
    return None if value % 2 == 0 else f"must be even (H.264 yuv420p halves it), not {value}"


def renderable(value: str) -> str | None:
    """``rendered`` needs PyAV (looked up, not imported: importing the simulator stays cheap)."""
    if value == "rendered" and importlib.util.find_spec("av") is None:
        return 'rendered needs the video extra (PyAV): pip install "airflow-provider-i2v[video]"'
    return None


def error_code(value: Any) -> Any:
    """A code given as ``10006095`` or ``"010006095"``, in the protocol's one form."""
    return normalise_error_code(value) if isinstance(value, str) or is_int(value) else value
