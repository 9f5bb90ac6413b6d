"""The simulator's knobs: one mutable dataclass, validated, readable and writable as JSON.

Every **tolerate** rule of ``vtrix-api.md`` has a knob here, so a test can make the
simulator behave like the real gateway on its worst day. The same object is changed
in-process (``sim.configure(...)``) and over HTTP (``POST /_sim/config``); both go
through :meth:`SimConfig.updated`, which validates, so a typo fails loudly instead
of silently testing nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_i2v.protocol import (
    GenerationStatus,
    normalise_error_code,
    normalise_status,
)

#: Which requests a fault may hit. ``all`` means the three gateway endpoints, never ``/_sim/``.
FAULT_SCOPES = ("create", "poll", "files", "all")

#: Fault kinds other than ``http_NNN`` (any HTTP status 400..599 is a kind of its own).
FAULT_KINDS = (
    "reset",  # connection reset (RST) before any answer: httpx.ReadError
    "drop",  # connection closed (FIN) before any answer: httpx.RemoteProtocolError
    "slow",  # answer normally after ``slow_seconds``
    "malformed_json",  # 200 whose body is not a readable generation
    "truncated_body",  # Content-Length larger than the bytes sent, then close
    "huge_body",  # a 200 body of ``huge_body_mib`` MiB
    "missing_id",  # a 200 JSON object without ``id`` (create: nothing is created)
    "lost_create_answer",  # create only: the generation IS created, then the connection is reset
)

#: Which endpoints each non-HTTP fault makes sense on; ``http_NNN`` applies everywhere.
FAULT_ENDPOINTS: Mapping[str, frozenset[str]] = {
    "reset": frozenset({"create", "poll", "files"}),
    "drop": frozenset({"create", "poll", "files"}),
    "slow": frozenset({"create", "poll", "files"}),
    "malformed_json": frozenset({"create", "poll"}),
    "truncated_body": frozenset({"create", "poll", "files"}),
    "huge_body": frozenset({"create", "poll"}),
    "missing_id": frozenset({"create", "poll"}),
    "lost_create_answer": frozenset({"create"}),
}

ERROR_SHAPES = ("object", "object_message", "string")
ERROR_CODE_FORMS = ("string", "int")
CREATED_AT_UNITS = ("seconds", "milliseconds")
OUTPUT_MODES = ("video", "empty_content", "empty")
ERROR_BODIES = ("rotate", "message", "error_string", "error_object", "text")
MALFORMED_BODIES = ("rotate", "truncated", "html", "empty", "not_object")
RETRY_AFTER_FORMS = ("seconds", "date")


def http_fault_status(kind: str) -> int | None:
    """The HTTP status of an ``http_NNN`` fault kind, else ``None``."""
    if kind.startswith("http_") and kind[5:].isdigit():
        return int(kind[5:])
    return None


def _normalise_kind(kind: str) -> str:
    """Accept ``429`` as shorthand for ``http_429``; reject anything unknown."""
    kind = kind.strip().lower()
    if kind.isdigit():
        kind = f"http_{kind}"
    status = http_fault_status(kind)
    if status is not None:
        if not 400 <= status <= 599:
            raise ValueError(f"fault {kind!r}: only HTTP statuses 400..599 can be faults")
        return kind
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: http_NNN, {', '.join(FAULT_KINDS)}")
    return kind


@dataclass(frozen=True)
class Fault:
    """One misbehaviour: ``kind`` hits ``rate`` of the requests in ``scope``.

    With ``first_n`` set, exactly the first N matching requests are hit and ``rate``
    is ignored: the knob for exact tests ("the first poll answers 503, then fine").
    """

    kind: str
    rate: float = 1.0
    scope: str = "all"
    first_n: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _normalise_kind(self.kind))
        if self.scope not in FAULT_SCOPES:
            raise ValueError(f"fault scope {self.scope!r} is not one of {FAULT_SCOPES}")
        if isinstance(self.rate, bool) or not isinstance(self.rate, int | float) or not 0 <= self.rate <= 1:
            raise ValueError(f"fault rate must be a number in 0..1, not {self.rate!r}")
        if self.first_n is not None and (
            isinstance(self.first_n, bool) or not isinstance(self.first_n, int) or self.first_n < 0
        ):
            raise ValueError(f"fault first_n must be a non-negative integer, not {self.first_n!r}")

    def applies_to(self, endpoint: str) -> bool:
        """Whether this fault can hit a request to ``endpoint`` (create, poll or files)."""
        if self.scope not in ("all", endpoint):
            return False
        if http_fault_status(self.kind) is not None:
            return True
        return endpoint in FAULT_ENDPOINTS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_value(cls, value: Fault | Mapping[str, Any]) -> Fault:
        """A fault from itself or from its JSON form ``{"kind", "rate", "scope", "first_n"}``."""
        if isinstance(value, Fault):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"a fault must be an object, not {value!r}")
        unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        if "kind" not in value:
            raise ValueError("a fault needs a 'kind'")
        return cls(**dict(value))

    @classmethod
    def parse(cls, text: str) -> Fault:
        """The CLI form ``KIND=RATE[@SCOPE]`` or ``KIND=first:N[@SCOPE]``, e.g. ``429=0.1@poll``."""
        spec, _, scope = text.partition("@")
        kind, sep, amount = spec.partition("=")
        if not sep:
            amount = "1"
        scope = scope.strip() or "all"
        amount = amount.strip()
        if amount.startswith("first:"):
            count = amount[len("first:") :]
            if not count.isdigit():
                raise ValueError(f"fault {text!r}: 'first:' needs a whole number")
            return cls(kind=kind, scope=scope, first_n=int(count))
        try:
            rate = float(amount)
        except ValueError:
            raise ValueError(f"fault {text!r}: rate {amount!r} is not a number") from None
        return cls(kind=kind, rate=rate, scope=scope)


#: Faults a careful client survives without paying twice, as (kind, scope). Body faults
#: replace a *successful* answer; on a create the generation already exists by then
#: ("created but the answer was lost"), which no client can tell from a failure, so they
#: are aimed at polls. HTTP errors, resets and drops answer before anything is created.
SURVIVABLE_FAULTS: tuple[tuple[str, str], ...] = (
    ("http_429", "all"),
    ("http_500", "all"),
    ("http_502", "all"),
    ("http_503", "all"),
    ("reset", "all"),
    ("drop", "all"),
    ("malformed_json", "poll"),
    ("truncated_body", "poll"),
)


def survivable_faults(rate: float) -> tuple[Fault, ...]:
    """:data:`SURVIVABLE_FAULTS` in equal shares hitting about ``rate`` of all requests.

    The first fault that fires wins, so each later one fires on a larger share of what
    the earlier ones let through: together they hit ``rate`` of the requests.
    """
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be in 0..1, not {rate!r}")
    share = rate / len(SURVIVABLE_FAULTS)
    return tuple(
        Fault(kind, rate=share / (1 - index * share), scope=scope)
        for index, (kind, scope) in enumerate(SURVIVABLE_FAULTS)
    )


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, not {value!r}")


def _number(name: str, value: Any, *, minimum: float = 0.0, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"{name} must be a number >= {minimum}, not {value!r}")


def _integer(name: str, value: Any, *, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")


def _status(name: str, value: Any, expected: GenerationStatus | None) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    status, known = normalise_status(value)
    if expected is None and known:
        raise ValueError(f"{name} {value!r} is a known spelling; an unknown status must be unknown")
    if expected is not None and status is not expected:
        raise ValueError(f"{name} {value!r} does not read as {expected.value!r} (case-insensitively)")


@dataclass
class SimConfig:
    """Everything that shapes the simulator's answers. Mutable while it runs.

    Assigning an attribute directly takes effect on the next request but skips
    validation; prefer ``Simulator.configure(...)`` or :meth:`updated`.
    """

    #: Accepted bearer keys; empty means "any non-empty key".
    api_keys: tuple[str, ...] = ()
    #: A generation completes (or fails) this long after it was created.
    generation_seconds: float = 5.0
    #: Size in bytes of every output file.
    file_size: int = 256 * 1024
    #: ``usage.cost``: the contract's string, or a number, or ``""`` (tolerate).
    cost: str | int | float = "0.2800"
    #: Extra ``usage`` keys (``discount`` is always there).
    usage_extra: dict[str, Any] = field(default_factory=dict)
    #: Status spellings (verbatim, any case): create answer and running polls...
    running_status: str = GenerationStatus.RUNNING.wire
    completed_status: str = GenerationStatus.COMPLETED.wire
    failed_status: str = GenerationStatus.FAILED.wire
    #: ...and the made-up status the first ``unknown_status_polls`` polls of each generation say.
    unknown_status: str = "warming_up"
    unknown_status_polls: int = 0
    #: Report ``progress`` (0..1) while running and 1.0 on completion.
    report_progress: bool = True
    #: ``created_at`` in seconds or milliseconds since the epoch.
    created_at_unit: str = "seconds"
    #: ``output``: one video, ``[{"content": []}]`` or ``[]``.
    output_mode: str = "video"
    #: Extra keys merged into the video entry (``{"duration": "6", "jobId": "..."}``).
    output_extra: dict[str, Any] = field(default_factory=dict)
    #: Failures: with ``fail_code`` set and ``fail_rate`` unset, every generation fails;
    #: with ``fail_rate`` set, that fraction fails (with ``fail_code``, or a known code
    #: picked at random).
    fail_code: str | None = None
    fail_rate: float | None = None
    #: Message of the failure; default: the code's meaning on the model page.
    fail_message: str | None = None
    #: ``error``: ``{"code", "error_message"}``, ``{"code", "message"}`` or a plain string.
    error_shape: str = "object"
    #: The code as a nine-digit string or as an integer (leading zero lost).
    error_code_form: str = "string"
    #: Injected misbehaviour; the first fault that fires on a request wins. Setting
    #: ``faults`` (even to equal values) restarts their ``first_n`` counts.
    faults: tuple[Fault, ...] = ()
    #: ``Retry-After`` on 429 and 503 faults (``None``: no header), as seconds or an HTTP date.
    retry_after: float | None = 1.0
    retry_after_form: str = "seconds"
    #: Delay of the ``slow`` fault.
    slow_seconds: float = 3.0
    #: Size of the ``huge_body`` fault's body, and whether it is sent chunked (no length).
    huge_body_mib: float = 16.0
    huge_body_chunked: bool = True
    #: Body of faulted HTTP errors: one style, or ``rotate`` through all four.
    error_body: str = "rotate"
    #: Body of the ``malformed_json`` fault: one variant, or ``rotate``.
    malformed_body: str = "rotate"
    #: Base URL of output files; default: the scheme and Host the client used.
    public_url: str | None = None
    #: Seed of every random choice (ids, failures, faults); ``None``: a fresh seed per run.
    seed: int | None = None
    #: How many request records are kept (oldest dropped first); counters are unbounded.
    #: A change applies at the next ``reset()``.
    record_limit: int = 100_000

    def __post_init__(self) -> None:
        self.api_keys = tuple(self.api_keys)
        if not (isinstance(self.faults, tuple) and all(isinstance(f, Fault) for f in self.faults)):
            # Rebuilt only when needed: a new tuple restarts the faults' ``first_n`` counts.
            self.faults = tuple(Fault.from_value(f) for f in self.faults)
        if self.fail_code is not None:
            self.fail_code = normalise_error_code(self.fail_code)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first knob that makes no sense."""
        if not all(isinstance(key, str) and key for key in self.api_keys):
            raise ValueError("api_keys must be non-empty strings")
        _number("generation_seconds", self.generation_seconds)
        _integer("file_size", self.file_size, minimum=1)
        if isinstance(self.cost, bool) or not isinstance(self.cost, str | int | float):
            raise ValueError(f"cost must be a string or a number, not {self.cost!r}")
        for name in ("usage_extra", "output_extra"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be an object")
        _status("running_status", self.running_status, GenerationStatus.RUNNING)
        _status("completed_status", self.completed_status, GenerationStatus.COMPLETED)
        _status("failed_status", self.failed_status, GenerationStatus.FAILED)
        _status("unknown_status", self.unknown_status, None)
        _integer("unknown_status_polls", self.unknown_status_polls)
        if not isinstance(self.report_progress, bool) or not isinstance(self.huge_body_chunked, bool):
            raise ValueError("report_progress and huge_body_chunked must be booleans")
        _one_of("created_at_unit", self.created_at_unit, CREATED_AT_UNITS)
        _one_of("output_mode", self.output_mode, OUTPUT_MODES)
        if self.fail_rate is not None:
            _number("fail_rate", self.fail_rate)
            if self.fail_rate > 1:
                raise ValueError(f"fail_rate must be in 0..1, not {self.fail_rate!r}")
        if self.fail_message is not None and not isinstance(self.fail_message, str):
            raise ValueError("fail_message must be a string")
        _one_of("error_shape", self.error_shape, ERROR_SHAPES)
        _one_of("error_code_form", self.error_code_form, ERROR_CODE_FORMS)
        _number("retry_after", self.retry_after, optional=True)
        _one_of("retry_after_form", self.retry_after_form, RETRY_AFTER_FORMS)
        _number("slow_seconds", self.slow_seconds)
        _number("huge_body_mib", self.huge_body_mib)
        _one_of("error_body", self.error_body, ERROR_BODIES)
        _one_of("malformed_body", self.malformed_body, MALFORMED_BODIES)
        if self.public_url is not None and not (
            isinstance(self.public_url, str) and self.public_url.startswith(("http://", "https://"))
        ):
            raise ValueError(f"public_url must be an http(s) URL, not {self.public_url!r}")
        if self.seed is not None:
            _integer("seed", self.seed, minimum=-(2**63))
        _integer("record_limit", self.record_limit, minimum=1)

    @property
    def effective_fail_rate(self) -> float:
        """The fraction of generations that fail: see ``fail_code``/``fail_rate``."""
        if self.fail_rate is not None:
            return self.fail_rate
        return 1.0 if self.fail_code is not None else 0.0

    def updated(self, changes: Mapping[str, Any]) -> SimConfig:
        """A validated copy with ``changes`` (JSON-shaped values are accepted) applied."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        values = dict(changes)
        if "api_keys" in values:
            keys = values["api_keys"]
            values["api_keys"] = (keys,) if isinstance(keys, str) else tuple(keys or ())
        if "faults" in values:
            values["faults"] = tuple(Fault.from_value(f) for f in values["faults"] or ())
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_sim/config`` (accepted back by ``POST``)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["api_keys"] = list(self.api_keys)
        data["faults"] = [fault.to_dict() for fault in self.faults]
        data["usage_extra"] = dict(self.usage_extra)
        data["output_extra"] = dict(self.output_extra)
        return data
