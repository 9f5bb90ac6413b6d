"""The faults the simulator can inject, and which one (if any) hits a request.

A fault kind is a :class:`FaultKind` (a ``StrEnum``: ``"reset"``, ``"http_503"``...
compare and serialise as the strings they always were). Each named kind is declared
once, in :data:`_KINDS`, with the endpoints it makes sense on, the stage of a request
it acts at and its help text; the CLI, the config's validation and the docs' table
read that. ``http_NNN`` is a family: any HTTP status 400..599 is a kind of its own.

The choice is the only place where faults meet randomness: it draws from the
simulator's seeded ``random.Random`` only for rates strictly between 0 and 1, so a
run is reproducible under a seed, and ``first_n`` faults need no randomness at all.
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .routes import GATEWAY_ENDPOINTS, Endpoint

#: A fault scope naming every gateway endpoint (never ``/_sim/``).
ALL_ENDPOINTS = "all"
#: Which requests a fault may hit.
FAULT_SCOPES: tuple[str, ...] = (*GATEWAY_ENDPOINTS, ALL_ENDPOINTS)
_HTTP_PREFIX = "http_"


class Stage(enum.Enum):
    """When a fault acts, which decides whether a create still creates."""

    #: Answers (or drops the connection) before auth and the work: nothing is created.
    INSTEAD = "instead of the answer"
    #: Waits, then the normal answer (or refusal).
    DELAY = "before the answer"
    #: Replaces a *successful* answer, after the work: a create has created.
    BODY = "in place of a successful answer"


class _NoSuchStatus(ValueError):
    """An ``http_NNN`` kind whose status cannot be an error (not 400..599)."""


class FaultKind(enum.StrEnum):
    """A kind of misbehaviour. ``FaultKind("503")`` and ``FaultKind("http_503")`` are one kind."""

    RESET = "reset"
    DROP = "drop"
    SLOW = "slow"
    MALFORMED_JSON = "malformed_json"
    TRUNCATED_BODY = "truncated_body"
    HUGE_BODY = "huge_body"
    MISSING_ID = "missing_id"
    LOST_CREATE_ANSWER = "lost_create_answer"

    @classmethod
    def http(cls, status: int) -> FaultKind:
        """The ``http_NNN`` kind answering ``status`` (400..599)."""
        return cls(f"{_HTTP_PREFIX}{status}")

    @classmethod
    def _missing_(cls, value: object) -> FaultKind | None:
        """``http_NNN`` kinds (and ``NNN``, any case) are made on first use, then shared."""
        if not isinstance(value, str):
            return None
        text = value.strip().lower()
        if text.isdigit():
            text = _HTTP_PREFIX + text
        if text in cls._value2member_map_:
            return cls(text)
        digits = text.removeprefix(_HTTP_PREFIX)
        if text == digits or not digits.isdigit():
            return None
        if not 400 <= int(digits) <= 599:
            raise _NoSuchStatus(f"fault {value!r}: only HTTP statuses 400..599 can be faults")
        member = str.__new__(cls, text)
        member._name_ = text.upper()
        member._value_ = text
        return cls._value2member_map_.setdefault(text, member)  # type: ignore[return-value]

    @property
    def http_status(self) -> int | None:
        """The status an ``http_NNN`` kind answers; ``None`` for the named kinds."""
        digits = self.value.removeprefix(_HTTP_PREFIX)
        return int(digits) if digits != self.value else None

    @property
    def stage(self) -> Stage:
        return Stage.INSTEAD if self.http_status is not None else _KINDS[self].stage

    @property
    def endpoints(self) -> frozenset[Endpoint]:
        """The endpoints this kind makes sense on (``http_NNN``: all three)."""
        return frozenset(GATEWAY_ENDPOINTS) if self.http_status is not None else _KINDS[self].endpoints

    @property
    def help(self) -> str:
        if self.http_status is not None:
            return "that HTTP status with an error body; 429 and 503 carry Retry-After"
        return _KINDS[self].help


@dataclass(frozen=True)
class _Kind:
    endpoints: frozenset[Endpoint]
    stage: Stage
    help: str


_CREATE, _POLL, _FILES = Endpoint.CREATE, Endpoint.POLL, Endpoint.FILES
_KINDS: Mapping[FaultKind, _Kind] = {
    FaultKind.RESET: _Kind(
        frozenset(GATEWAY_ENDPOINTS), Stage.INSTEAD, "connection reset (RST) before any answer"
    ),
    FaultKind.DROP: _Kind(
        frozenset(GATEWAY_ENDPOINTS), Stage.INSTEAD, "connection closed (FIN) before any answer"
    ),
    FaultKind.SLOW: _Kind(
        frozenset(GATEWAY_ENDPOINTS),
        Stage.DELAY,
        "the work is done first (a create creates), then the answer is held slow_seconds",
    ),
    FaultKind.MALFORMED_JSON: _Kind(
        frozenset({_CREATE, _POLL}), Stage.BODY, "a 200 whose body is not a readable generation"
    ),
    FaultKind.TRUNCATED_BODY: _Kind(
        frozenset(GATEWAY_ENDPOINTS), Stage.BODY, "Content-Length larger than the bytes sent, then close"
    ),
    FaultKind.HUGE_BODY: _Kind(frozenset({_CREATE, _POLL}), Stage.BODY, "a 200 body of huge_body_mib MiB"),
    FaultKind.MISSING_ID: _Kind(
        frozenset({_CREATE, _POLL}),
        Stage.BODY,
        "a 200 without an id (create: a failed creation with an error, nothing is created)",
    ),
    FaultKind.LOST_CREATE_ANSWER: _Kind(
        frozenset({_CREATE}), Stage.BODY, "the generation IS created, then the connection is reset"
    ),
}

#: The named fault kinds (``http_NNN`` aside), as their strings.
FAULT_KINDS: tuple[str, ...] = tuple(FaultKind)


def fault_kind(value: FaultKind | str) -> FaultKind:
    """``value`` as a kind; ``ValueError`` naming the known kinds otherwise."""
    try:
        return FaultKind(value.strip().lower() if isinstance(value, str) else value)
    except _NoSuchStatus:
        raise
    except ValueError:
        raise ValueError(f"unknown fault kind {value!r}; known: http_NNN, {', '.join(FAULT_KINDS)}") from None


@dataclass(frozen=True)
class Fault:
    """One misbehaviour: ``kind`` hits ``rate`` of the requests in ``scope``.

    ``kind`` may be given as its string (``"503"``, ``"http_503"``, ``"reset"``). With
    ``first_n`` set, exactly the first N matching requests are hit and ``rate`` is
    ignored: the knob for exact tests ("the first poll answers 503, then fine").
    """

    kind: FaultKind
    rate: float = 1.0
    scope: str = ALL_ENDPOINTS
    first_n: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", fault_kind(self.kind))
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
        return self.scope in (ALL_ENDPOINTS, endpoint) and endpoint in self.kind.endpoints

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
        scope = scope.strip() or ALL_ENDPOINTS
        amount = amount.strip()
        if amount.startswith("first:"):
            count = amount[len("first:") :]
            if not count.isdigit():
                raise ValueError(f"fault {text!r}: 'first:' needs a whole number")
            return cls(kind=fault_kind(kind), scope=scope, first_n=int(count))
        try:
            rate = float(amount)
        except ValueError:
            raise ValueError(f"fault {text!r}: rate {amount!r} is not a number") from None
        return cls(kind=fault_kind(kind), rate=rate, scope=scope)


#: Faults a careful client survives without paying twice, as (kind, scope). Body faults
#: replace a *successful* answer; on a create the generation already exists by then
#: ("created but the answer was lost"), which no client can tell from a failure, so they
#: are aimed at polls. HTTP errors, resets and drops answer before anything is created.
SURVIVABLE_FAULTS: tuple[tuple[str, str], ...] = (
    (FaultKind.http(429), ALL_ENDPOINTS),
    (FaultKind.http(500), ALL_ENDPOINTS),
    (FaultKind.http(502), ALL_ENDPOINTS),
    (FaultKind.http(503), ALL_ENDPOINTS),
    (FaultKind.RESET, ALL_ENDPOINTS),
    (FaultKind.DROP, ALL_ENDPOINTS),
    (FaultKind.MALFORMED_JSON, Endpoint.POLL),
    (FaultKind.TRUNCATED_BODY, Endpoint.POLL),
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
        Fault(fault_kind(kind), rate=share / (1 - index * share), scope=scope)
        for index, (kind, scope) in enumerate(SURVIVABLE_FAULTS)
    )


class FaultPicker:
    """Decides, request by request, which configured fault (if any) fires."""

    def __init__(self) -> None:
        self._faults: Sequence[Fault] = ()
        self._seen: list[int] = []

    def reset(self) -> None:
        self._faults = ()
        self._seen = []

    def pick(self, faults: Sequence[Fault], endpoint: Endpoint, rng: random.Random) -> Fault | None:
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
