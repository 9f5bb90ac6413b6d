"""Why a generation failed: the model page's error codes and the shapes an ``error`` arrives in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .values import is_int

#: Codes on the model page, normalised (nine digits, leading zero kept).
KNOWN_ERROR_CODES: dict[str, str] = {
    "010006095": "Internal generation error",
    "010006096": "Result parsing error",
    "010006097": "HTTP error response",
    "010006098": "Status check error",
    "010006099": "Task creation error",
}
UNKNOWN_FAILURE = "unknown vendor failure"
#: The code of a generation the gateway could not even create.
TASK_CREATION_ERROR = "010006099"

#: Keys an error's human-readable text has been seen under, in order of preference:
#: a failed generation's ``error`` object and an HTTP error body both use them.
MESSAGE_KEYS = ("error_message", "message", "msg", "detail", "error")


def normalise_error_code(raw: Any) -> str | None:
    """One form for a code seen as ``10006095``, ``"010006095"`` or ``"E42"``."""
    if raw is None or isinstance(raw, bool):
        return None
    if is_int(raw):
        return f"{raw:09d}"
    if isinstance(raw, float) and raw.is_integer():
        return f"{int(raw):09d}"
    text = str(raw).strip()
    # ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() refuses or misreads.
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return f"{int(text):09d}"
    return text or None


def message_of(payload: dict[str, Any]) -> str | None:
    """The first non-empty message under :data:`MESSAGE_KEYS` (an object's own message inside)."""
    for key in MESSAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, dict):
            inner = message_of(value)
            if inner:
                return inner
        elif value:
            return str(value)
    return None


@dataclass(frozen=True)
class GenerationError:
    """Why a generation failed, as the gateway said it."""

    code: str | None
    message: str

    @property
    def known(self) -> bool:
        return self.code in KNOWN_ERROR_CODES

    @property
    def meaning(self) -> str:
        return KNOWN_ERROR_CODES.get(self.code or "", UNKNOWN_FAILURE)

    def to_payload(self, *, message_key: str = "error_message", code_as_int: bool = True) -> dict[str, Any]:
        """The ``error`` object as the gateway sends it (server side).

        The model page types ``code`` as an integer, so by default a numeric code loses
        its leading zero (``10006095``); ``code_as_int=False`` (the nine-digit string) and
        ``message_key="message"`` are the variants a client must tolerate.
        """
        if message_key not in ("error_message", "message"):
            raise ValueError(f"message_key must be 'error_message' or 'message', not {message_key!r}")
        code: str | int | None = self.code
        if code_as_int and self.code is not None and self.code.isdigit():
            code = int(self.code)
        return {"code": code, message_key: self.message}

    @classmethod
    def from_payload(cls, raw: Any) -> GenerationError:
        """Read ``{"code", "error_message"}``, ``{"code", "message"}`` or a plain string."""
        if isinstance(raw, dict):
            code = normalise_error_code(raw.get("code"))
            text = message_of(raw) or KNOWN_ERROR_CODES.get(code or "") or "no message"
            return cls(code=code, message=text)
        if raw is None or raw == "":
            return cls(code=None, message="the gateway reported a failure without an error")
        return cls(code=None, message=str(raw))
