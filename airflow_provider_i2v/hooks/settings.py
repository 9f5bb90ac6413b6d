"""What a connection of type ``i2v`` means: base URL, key and client options.

Kept apart from the hook so that the operator, the trigger and the tests can read
a connection's options without building an HTTP client.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_i2v.protocol import DEFAULT_BASE_URL

CONN_TYPE = "i2v"
DEFAULT_CONN_ID = "i2v_default"
#: The connection type's display name (UI, ``airflow providers hooks``).
HOOK_NAME = "Image to Video (Vtrix)"


@dataclass(frozen=True)
class Extra:
    """One connection extra, declared once: its JSON key, how it is read, its UI form field."""

    name: str
    label: str
    description: str
    kind: str  # JSON schema type: "number", "integer", "boolean" or "string"
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None

    def form_field(self) -> dict[str, Any]:
        """The ``conn-fields`` entry of the provider info (Airflow 3's declarative form)."""
        schema: dict[str, Any] = {"type": [self.kind, "null"]}
        if self.default is not None:
            schema["default"] = self.default
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return {"label": self.label, "description": self.description, "schema": schema}


#: Every connection extra (all optional). ``verify_ssl`` also takes a CA bundle path.
EXTRAS: tuple[Extra, ...] = (
    Extra(
        "timeout",
        "Request timeout (s)",
        "Seconds to wait for each HTTP request to the gateway.",
        kind="number",
        default=30.0,
        minimum=0.1,
        maximum=3600,
    ),
    Extra(
        "max_retries",
        "Retry budget",
        "Retries of one request on transient errors (408, 429, 5xx, resets, timeouts). "
        "A create is repeated only when nothing can have been created.",
        kind="integer",
        default=5,
        minimum=0,
        maximum=100,
    ),
    Extra(
        "backoff_initial",
        "Initial back-off (s)",
        "First wait between retries; doubles each time, with jitter. Retry-After wins.",
        kind="number",
        default=1.0,
        minimum=0,
        maximum=3600,
    ),
    Extra(
        "backoff_max",
        "Maximum back-off (s)",
        "Longest wait between two retries (unless the gateway's Retry-After says more).",
        kind="number",
        default=60.0,
        minimum=0,
        maximum=3600,
    ),
    Extra(
        "verify_ssl",
        "Verify TLS certificates",
        "Turn off only for a test gateway with a self-signed certificate.",
        kind="boolean",
        default=True,
    ),
    Extra(
        "proxy",
        "Proxy URL",
        "HTTP(S) proxy for gateway requests, image URL checks and output downloads, e.g. "
        "http://proxy.internal:3128. Wins over HTTPS_PROXY/HTTP_PROXY/NO_PROXY; without it "
        "those environment variables apply.",
        kind="string",
    ),
    Extra(
        "allow_private_outputs",
        "Allow private output URLs",
        "Download output files from loopback, private or link-local addresses (a gateway "
        "simulator on this machine, an in-house gateway). Off: such an output URL is refused.",
        kind="boolean",
        default=False,
    ),
)
_EXTRA = {extra.name: extra for extra in EXTRAS}
DEFAULT_TIMEOUT: float = _EXTRA["timeout"].default
DEFAULT_MAX_RETRIES: int = _EXTRA["max_retries"].default
DEFAULT_BACKOFF_INITIAL: float = _EXTRA["backoff_initial"].default
DEFAULT_BACKOFF_MAX: float = _EXTRA["backoff_max"].default


class InvalidConnectionError(ValueError):
    """A connection extra that cannot be used (wrong type or range)."""


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything needed to talk to one gateway with one key.

    ``api_key`` is excluded from ``repr`` so that a settings object in a log line or a
    traceback never shows it.
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    proxy: str | None = None
    backoff_initial: float = DEFAULT_BACKOFF_INITIAL
    backoff_max: float = DEFAULT_BACKOFF_MAX
    #: Output downloads may go to loopback, private and link-local addresses.
    allow_private_outputs: bool = False

    @functools.cached_property
    def client_key(self) -> tuple[Any, ...]:
        """What makes two HTTP clients different (the key is sent per request, not held)."""
        return (self.base_url, self.timeout, self.verify, self.proxy)

    @functools.cached_property
    def fetch_key(self) -> tuple[Any, ...]:
        """What makes two clients for third-party URLs (images, outputs) different."""
        return (self.timeout, self.verify, self.proxy)

    @functools.cached_property
    def account_key(self) -> tuple[str, str]:
        """Identifies one rate-limited account on one gateway, without holding the key itself."""
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()[:16]
        return (self.base_url, digest)

    @classmethod
    def from_connection(
        cls,
        host: str | None,
        password: str | None,
        extra: Mapping[str, Any],
        schema: str | None = None,
        port: int | None = None,
    ) -> ConnectionSettings:
        """Build settings from a connection's fields; ``extra`` is its decoded JSON.

        ``port`` applies when ``host`` names none (a connection URI such as
        ``i2v://:KEY@127.0.0.1:8765`` puts the port there).
        """
        base_url = (host or "").strip() or DEFAULT_BASE_URL
        if "://" not in base_url:
            base_url = f"{(schema or 'https').strip() or 'https'}://{base_url}"
        if port and urlsplit(base_url).port is None:
            parts = urlsplit(base_url)
            base_url = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{int(port)}"))
        scheme = base_url.partition("://")[0].lower()
        if scheme not in ("http", "https"):
            raise InvalidConnectionError(
                f"the gateway URL (host) must start with https:// or http://, not {scheme}:// "
                f"({base_url.rpartition('@')[2][:100]!r})"
            )
        api_key = (password or "").strip()
        if api_key and not _is_header_safe(api_key):
            # Never echo the key: a control character would also defeat log masking.
            raise InvalidConnectionError(
                "the API key (password) contains characters that cannot be sent in an HTTP header "
                "(control characters, spaces or non-ASCII): check that it was pasted whole"
            )
        return cls(
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            timeout=_number(extra, _EXTRA["timeout"]),
            max_retries=int(_number(extra, _EXTRA["max_retries"])),
            verify=_verify(extra),
            proxy=_proxy(extra),
            backoff_initial=_number(extra, _EXTRA["backoff_initial"]),
            backoff_max=_number(extra, _EXTRA["backoff_max"]),
            allow_private_outputs=_flag(extra, _EXTRA["allow_private_outputs"]),
        )


def _is_header_safe(value: str) -> bool:
    """Printable ASCII without spaces: what a bearer token can be."""
    return all(33 <= ord(ch) <= 126 for ch in value)


def _lookup(extra: Mapping[str, Any], name: str) -> Any:
    # The UI may store form fields with Airflow's historical prefix.
    for key in (name, f"extra__{CONN_TYPE}__{name}"):
        value = extra.get(key)
        if value is not None and value != "":
            return value
    return None


def _number(extra: Mapping[str, Any], declared: Extra) -> float:
    """A finite number within the extra's declared range (integers for ``kind="integer"``).

    ``float()`` alone would let ``"nan"`` through every comparison and make ``"inf"`` an
    ``OverflowError`` later in ``int()``: both are refused here, naming the extra.
    """
    name, default = declared.name, float(declared.default)
    raw = _lookup(extra, name)
    if raw is None:
        return default
    try:
        if isinstance(raw, bool):
            raise TypeError("a boolean is not a number")
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise InvalidConnectionError(f"connection extra {name!r} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise InvalidConnectionError(f"connection extra {name!r} must be a finite number, got {raw!r}")
    if declared.kind == "integer" and not value.is_integer():
        raise InvalidConnectionError(f"connection extra {name!r} must be a whole number, got {raw!r}")
    minimum, maximum = declared.minimum, declared.maximum
    if minimum is not None and value < minimum:
        raise InvalidConnectionError(f"connection extra {name!r} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidConnectionError(f"connection extra {name!r} must be <= {maximum}, got {value}")
    return value


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _flag(extra: Mapping[str, Any], declared: Extra) -> bool:
    raw = _lookup(extra, declared.name)
    if raw is None:
        return bool(declared.default)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidConnectionError(f"connection extra {declared.name!r} must be true or false, got {raw!r}")


#: Proxy schemes httpx can use (``socks5`` needs the ``socksio`` package).
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _proxy(extra: Mapping[str, Any]) -> str | None:
    text = _text(extra, "proxy")
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        usable = parts.scheme.lower() in _PROXY_SCHEMES and bool(parts.hostname) and parts.port != 0
    except ValueError:
        usable = False
    if not usable:
        shown = text.rpartition("@")[2] if "@" in text else text  # never a proxy's credentials
        raise InvalidConnectionError(
            f"connection extra 'proxy' must be a URL such as http://proxy.internal:3128 "
            f"(schemes {', '.join(_PROXY_SCHEMES)}), got {shown!r}"
        )
    return text


def _text(extra: Mapping[str, Any], name: str) -> str | None:
    raw = _lookup(extra, name)
    return str(raw).strip() or None if raw is not None else None


def _verify(extra: Mapping[str, Any]) -> bool | str:
    raw = _lookup(extra, "verify_ssl")
    if raw is None:
        return True
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip()
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    return text  # a CA bundle path
