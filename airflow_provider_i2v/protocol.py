"""The Vtrix gateway's wire contract, in one place.

Every path, field name, status spelling, error code and HTTP-status meaning the
provider knows about lives here. The hook and trigger use it to build requests
and read answers; the simulator uses it to read requests and build answers, so
the two can never drift apart. See ``shared/vtrix-api.md`` for the contract and
for everything a client must *tolerate*.

This module is pure Python (no httpx, no Airflow): it is cheap to import and
trivially unit-testable.
"""

from __future__ import annotations

import email.utils
import enum
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from urllib.parse import quote, urlsplit

DEFAULT_BASE_URL = "https://cloud.vtrix.ai"
CREATE_PATH = "/model/v1/generation"
_POLL_PREFIX = "/model/v1/generation/task/"
POLL_PATH_TEMPLATE = _POLL_PREFIX + "{generation_id}"

#: Cap on the body of any single gateway answer. A poll answer is a few hundred
#: bytes; anything near this is a hostile or broken server.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024


def poll_path(generation_id: str) -> str:
    """Path of the status endpoint for ``generation_id`` (the id is path-quoted)."""
    return _POLL_PREFIX + quote(generation_id, safe="")


def generation_id_from_poll_path(path: str) -> str | None:
    """Inverse of :func:`poll_path` (for the simulator's router)."""
    if not path.startswith(_POLL_PREFIX):
        return None
    rest = path[len(_POLL_PREFIX) :]
    return rest or None


def auth_header(api_key: str) -> dict[str, str]:
    """The gateway's bearer-token header. Never log the result."""
    return {"Authorization": f"Bearer {api_key}"}


def bearer_token(authorization: str | None) -> str | None:
    """Extract the key from an ``Authorization`` header (server side)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# --------------------------------------------------------------------------------------
# The model and its documented limits (seed/minimax_i2v_01_live-api.txt)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What the gateway accepts for one model; the single source of every input limit."""

    name: str
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    prompt_max_chars: int
    #: Pillow format name -> media type of the data URL.
    image_media_types: Mapping[str, str]
    #: "Less than 20MB". Read as decimal megabytes, the stricter reading: an image
    #: we let through must never be refused (and possibly charged) by the gateway.
    image_max_bytes: int
    #: "Short side greater than 300px": strictly greater.
    image_min_short_side_px: int
    #: "Aspect ratio between 2:5 and 5:2": both boundaries accepted.
    image_min_aspect: Fraction
    image_max_aspect: Fraction
    default_duration: int
    default_resolution: str


MINIMAX_I2V_01_LIVE = ModelSpec(
    name="minimax_i2v_01_live",
    durations=(6,),
    resolutions=("720P",),
    prompt_max_chars=2000,
    image_media_types={"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"},
    image_max_bytes=20_000_000,
    image_min_short_side_px=300,
    image_min_aspect=Fraction(2, 5),
    image_max_aspect=Fraction(5, 2),
    default_duration=6,
    default_resolution="720P",
)

MODELS: Mapping[str, ModelSpec] = {MINIMAX_I2V_01_LIVE.name: MINIMAX_I2V_01_LIVE}
DEFAULT_MODEL = MINIMAX_I2V_01_LIVE.name


# --------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------


class MalformedRequestError(ValueError):
    """A create body that does not follow the contract (raised on the server side)."""


@dataclass(frozen=True)
class GenerationRequest:
    """One create request. ``first_frame_image`` is an http(s) URL or a data URL."""

    first_frame_image: str
    model: str = DEFAULT_MODEL
    prompt: str | None = None
    duration: int = MINIMAX_I2V_01_LIVE.default_duration
    resolution: str = MINIMAX_I2V_01_LIVE.default_resolution
    prompt_optimizer: bool = True
    callback_url: str | None = None
    aigc_watermark: bool = False

    def __repr__(self) -> str:  # a data URL can be megabytes: never print it whole
        return (
            f"GenerationRequest(model={self.model!r}, first_frame_image="
            f"{describe_image_reference(self.first_frame_image)!r}, prompt={self.prompt!r}, "
            f"duration={self.duration!r}, resolution={self.resolution!r})"
        )

    def to_body(self) -> dict[str, Any]:
        """The JSON body of ``POST /model/v1/generation``; optional ``None`` fields are omitted."""
        params: dict[str, Any] = {
            "first_frame_image": self.first_frame_image,
            "duration": self.duration,
            "resolution": self.resolution,
            "prompt_optimizer": self.prompt_optimizer,
            "aigc_watermark": self.aigc_watermark,
        }
        if self.prompt is not None:
            params["prompt"] = self.prompt
        if self.callback_url is not None:
            params["callback_url"] = self.callback_url
        return {"model": self.model, "input": [{"params": params}]}

    @classmethod
    def from_body(cls, body: Any) -> GenerationRequest:
        """Read a create body (what the gateway does); raises :class:`MalformedRequestError`."""
        if not isinstance(body, dict):
            raise MalformedRequestError("body must be a JSON object")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise MalformedRequestError("'model' is required")
        inputs = body.get("input")
        if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
            raise MalformedRequestError("'input' must be a non-empty list of objects")
        params = inputs[0].get("params")
        if not isinstance(params, dict):
            raise MalformedRequestError("'input[0].params' must be an object")
        image = params.get("first_frame_image")
        if not isinstance(image, str) or not image:
            raise MalformedRequestError("'first_frame_image' is required")
        spec = MODELS.get(model, MINIMAX_I2V_01_LIVE)
        typed: dict[str, tuple[type, Any]] = {
            "prompt": (str, None),
            "duration": (int, spec.default_duration),
            "resolution": (str, spec.default_resolution),
            "prompt_optimizer": (bool, True),
            "callback_url": (str, None),
            "aigc_watermark": (bool, False),
        }
        values: dict[str, Any] = {}
        for name, (kind, default) in typed.items():
            value = params.get(name, default)
            wrong_bool = kind is int and isinstance(value, bool)
            if value is not None and (wrong_bool or not isinstance(value, kind)):
                raise MalformedRequestError(f"'{name}' must be of type {kind.__name__}")
            values[name] = value
        return cls(first_frame_image=image, model=model, **values)


def parameter_problems(request: GenerationRequest) -> list[str]:
    """Every way ``request``'s non-image parameters break the model's documented limits.

    Each problem names the field, the value seen and the limit. An empty list means
    the parameters are acceptable. The image's own content (format, size, pixels) is
    checked by :mod:`airflow_provider_i2v.images`, which reads it.
    """
    spec = MODELS.get(request.model)
    if spec is None:
        return [f"model: {request.model!r} is not supported; supported models: {sorted(MODELS)}"]
    problems: list[str] = []
    if request.duration not in spec.durations:
        problems.append(
            f"duration: {request.duration!r} is not allowed for {spec.name}; allowed: {list(spec.durations)}"
        )
    if request.resolution not in spec.resolutions:
        problems.append(
            f"resolution: {request.resolution!r} is not allowed for {spec.name}; "
            f"allowed: {list(spec.resolutions)}"
        )
    if request.prompt is not None and len(request.prompt) > spec.prompt_max_chars:
        problems.append(
            f"prompt: {len(request.prompt)} characters is over the limit of "
            f"{spec.prompt_max_chars} characters"
        )
    if request.callback_url is not None and not is_http_url(request.callback_url):
        problems.append(f"callback_url: {request.callback_url!r} is not an http(s) URL")
    image = request.first_frame_image
    if not (is_http_url(image) or image.startswith("data:image/")):
        problems.append(
            f"first_frame_image: {describe_image_reference(image)!r} is neither an http(s) URL "
            "nor a data:image/... URL"
        )
    return problems


def is_http_url(value: str) -> bool:
    """True for an absolute ``http://`` or ``https://`` URL with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def describe_image_reference(value: str) -> str:
    """A short, loggable form of an image reference: data URLs lose their bytes."""
    if value.startswith("data:"):
        header, _, payload = value.partition(",")
        return f"{header},<{len(payload)} base64 characters>"
    return value if len(value) <= 300 else value[:297] + "..."


# --------------------------------------------------------------------------------------
# Statuses
# --------------------------------------------------------------------------------------


class GenerationStatus(enum.StrEnum):
    """The three states the provider acts on; every spelling maps to one of them."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self is not GenerationStatus.RUNNING


#: The spellings documented or seen, compared case-insensitively.
STATUS_SPELLINGS: Mapping[str, GenerationStatus] = {
    "in_progress": GenerationStatus.RUNNING,
    "pending": GenerationStatus.RUNNING,
    "in_queue": GenerationStatus.RUNNING,
    "processing": GenerationStatus.RUNNING,
    "completed": GenerationStatus.COMPLETED,
    "success": GenerationStatus.COMPLETED,
    "failed": GenerationStatus.FAILED,
}

#: What the gateway says in the create answer and while running (simulator's default).
STATUS_IN_PROGRESS = "in_progress"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"


def normalise_status(raw: Any) -> tuple[GenerationStatus, bool]:
    """Map a raw status to ``(status, known)``. Unknown spellings are "still running"."""
    if isinstance(raw, str):
        status = STATUS_SPELLINGS.get(raw.strip().lower())
        if status is not None:
            return status, True
    return GenerationStatus.RUNNING, False


# --------------------------------------------------------------------------------------
# Generation error codes
# --------------------------------------------------------------------------------------

#: Codes on the model page, normalised (nine digits, leading zero kept).
KNOWN_ERROR_CODES: Mapping[str, str] = {
    "010006095": "Internal generation error",
    "010006096": "Result parsing error",
    "010006097": "HTTP error response",
    "010006098": "Status check error",
    "010006099": "Task creation error",
}


def normalise_error_code(raw: Any) -> str | None:
    """One form for a code seen as ``10006095``, ``"010006095"`` or ``"E42"``."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return f"{raw:09d}"
    if isinstance(raw, float) and raw.is_integer():
        return f"{int(raw):09d}"
    text = str(raw).strip()
    if text.isdigit() and len(text) <= 9:
        return f"{int(text):09d}"
    return text or None


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
        return KNOWN_ERROR_CODES.get(self.code or "", "unknown vendor failure")

    def to_payload(self, *, message_key: str = "error_message", code_as_int: bool = False) -> dict[str, Any]:
        """The ``error`` object as the gateway sends it (server side).

        ``message_key="message"`` and ``code_as_int=True`` (leading zero lost) are the
        variants a client must tolerate.
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
            message = raw.get("error_message") or raw.get("message") or raw.get("msg")
            text = str(message) if message else (KNOWN_ERROR_CODES.get(code or "", "") or "no message")
            return cls(code=code, message=text)
        if raw is None or raw == "":
            return cls(code=None, message="the gateway reported a failure without an error")
        return cls(code=None, message=str(raw))


# --------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------


class MalformedResponseError(ValueError):
    """An answer that cannot be read as the contract says (treated as transient)."""


class MissingGenerationIdError(MalformedResponseError):
    """A JSON object without ``id``: for a create, a failed creation (nothing was created)."""


@dataclass(frozen=True)
class OutputItem:
    """One generated file: ``type`` is video, image or audio."""

    type: str
    url: str


@dataclass(frozen=True)
class GenerationState:
    """A generation as one create or poll answer describes it."""

    generation_id: str
    status: GenerationStatus
    raw_status: str
    status_known: bool
    model: str | None = None
    created_at: float | None = None
    progress: float | None = None
    outputs: tuple[OutputItem, ...] = ()
    usage: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    error: GenerationError | None = None
    #: The answer as received, for passing on (e.g. in a trigger event) and re-reading.
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def video_urls(self) -> list[str]:
        return [item.url for item in self.outputs if item.type == "video"]

    @property
    def output_urls(self) -> list[str]:
        return [item.url for item in self.outputs]

    @property
    def cost(self) -> Decimal | None:
        return cost_of(self.usage)


#: ``usage`` key of the cost; every other usage key passes through untouched.
USAGE_COST = "cost"


def render_usage(cost: str | int | float, **extra: Any) -> dict[str, Any]:
    """A completed answer's ``usage`` (server side): the cost plus ``discount`` and any extras."""
    return {USAGE_COST: cost, "discount": 0, **extra}


def parse_created_at(raw: Any) -> float | None:
    """Seconds since the epoch, from seconds or milliseconds."""
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        return None
    return float(raw) / 1000.0 if raw > 100_000_000_000 else float(raw)


def cost_of(usage: Mapping[str, Any]) -> Decimal | None:
    """The exact cost in US dollars: ``"0.2800"`` or a number; ``""`` or absent is unknown."""
    raw = usage.get(USAGE_COST)
    if raw is None or isinstance(raw, bool) or raw == "":
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _parse_outputs(raw: Any) -> tuple[OutputItem, ...]:
    items: list[OutputItem] = []
    if not isinstance(raw, list):
        return ()
    for group in raw:
        content = group.get("content") if isinstance(group, dict) else None
        if not isinstance(content, list):
            continue
        for entry in content:
            if isinstance(entry, dict) and isinstance(entry.get("url"), str) and entry["url"]:
                items.append(OutputItem(type=str(entry.get("type") or "video").lower(), url=entry["url"]))
    return tuple(items)


def parse_generation(payload: Any) -> GenerationState:
    """Read a create or poll answer. A missing id is a malformed answer."""
    if not isinstance(payload, dict):
        raise MalformedResponseError("the answer is not a JSON object")
    generation_id = payload.get("id")
    if isinstance(generation_id, int) and not isinstance(generation_id, bool):
        generation_id = str(generation_id)
    if not isinstance(generation_id, str) or not generation_id:
        raise MissingGenerationIdError("the answer has no generation 'id'")
    raw_status = payload.get("status")
    status, known = normalise_status(raw_status)
    progress = payload.get("progress")
    usage = payload.get("usage")
    metadata = payload.get("metadata")
    error = None
    if status is GenerationStatus.FAILED:
        error = GenerationError.from_payload(payload.get("error"))
    return GenerationState(
        generation_id=generation_id,
        status=status,
        raw_status=str(raw_status),
        status_known=known,
        model=payload.get("model") if isinstance(payload.get("model"), str) else None,
        created_at=parse_created_at(payload.get("created_at")),
        progress=float(progress)
        if isinstance(progress, int | float) and not isinstance(progress, bool)
        else None,
        outputs=_parse_outputs(payload.get("output")),
        usage=dict(usage) if isinstance(usage, dict) else {},
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
        error=error,
        raw=payload,
    )


def decode_json(body: bytes) -> Any:
    """Decode a JSON answer; anything else is :class:`MalformedResponseError`."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedResponseError(f"the answer is not JSON ({len(body)} bytes)") from exc


# --------------------------------------------------------------------------------------
# HTTP-level answers
# --------------------------------------------------------------------------------------


class ErrorKind(enum.Enum):
    """What an HTTP error status means for a client (vtrix-api.md, "HTTP-level errors")."""

    BAD_REQUEST = "bad_request"  # 400, 422 and other unexpected 4xx: never retry
    AUTH = "auth"  # 401: bad key, never retry
    FORBIDDEN = "forbidden"  # 402, 403: balance or permission, never retry automatically
    NOT_FOUND = "not_found"  # 404 on poll: unknown generation id
    TRANSIENT = "transient"  # 408, 429, 5xx: back off and try again within a budget


def classify_status(status_code: int) -> ErrorKind:
    """Classify a non-2xx HTTP status."""
    if status_code in (408, 429) or status_code >= 500:
        return ErrorKind.TRANSIENT
    if status_code == 401:
        return ErrorKind.AUTH
    if status_code in (402, 403):
        return ErrorKind.FORBIDDEN
    if status_code == 404:
        return ErrorKind.NOT_FOUND
    return ErrorKind.BAD_REQUEST


def error_message(body: bytes, limit: int = 500) -> str:
    """The message of an error body: ``{"message"}``, ``{"error": str|obj}`` or raw text."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = body[:limit].decode("utf-8", errors="replace").strip()
        return text or "(empty body)"
    if isinstance(payload, dict):
        for key in ("message", "error", "detail", "msg"):
            value = payload.get(key)
            if isinstance(value, dict):
                inner = value.get("message") or value.get("error_message") or json.dumps(value)
                return str(inner)[:limit]
            if value:
                return str(value)[:limit]
    return json.dumps(payload)[:limit]


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


# --------------------------------------------------------------------------------------
# Server side: the bodies the gateway sends (used by the simulator)
# --------------------------------------------------------------------------------------


def render_generation(
    *,
    generation_id: str,
    status: str,
    model: str,
    created_at: float,
    progress: float | None = None,
    outputs: list[OutputItem] | None = None,
    usage: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    error: GenerationError | Mapping[str, Any] | str | None = None,
) -> dict[str, Any]:
    """A create or poll answer, shaped as the contract shows it."""
    body: dict[str, Any] = {"id": generation_id, "status": status, "model": model, "created_at": created_at}
    if progress is not None:
        body["progress"] = progress
    if outputs is not None:
        body["output"] = [{"content": [{"type": item.type, "url": item.url} for item in outputs]}]
    if usage is not None:
        body["usage"] = dict(usage)
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if isinstance(error, GenerationError):
        body["error"] = error.to_payload()
    elif isinstance(error, Mapping):
        body["error"] = dict(error)
    elif error is not None:
        body["error"] = error
    return body


def render_error(message: str) -> dict[str, Any]:
    """An HTTP-level error body."""
    return {"message": message}
