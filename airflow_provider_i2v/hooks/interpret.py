"""What one gateway answer (or one failed attempt) means: pure, no sockets.

The transport performs a request and hands the status, headers and body here; this
module decides between a generation, a :class:`TransientFailure` worth another
attempt (and whether a create may be repeated after it), and a typed, final error.
Unit tests feed it answers directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_provider_i2v.exceptions import (
    I2VAuthenticationError,
    I2VConnectionConfigError,
    I2VGenerationNotFoundError,
    I2VInvalidRequestError,
    I2VPermissionError,
)
from airflow_provider_i2v.protocol import (
    THROTTLED_STATUS,
    ErrorKind,
    GenerationState,
    MalformedResponseError,
    MissingGenerationIdError,
    classify_status,
    decode_json,
    error_message,
    parse_generation,
    parse_retry_after,
    status_proves_nothing_created,
)


@dataclass(frozen=True)
class Call:
    """One logical gateway call: what it is for decides what may be repeated."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    #: True for a create: repeating it after an unknown outcome could pay twice.
    creates: bool = False
    #: Included in log lines and errors (e.g. the generation id being polled).
    label: str = ""
    generation_id: str | None = None


class TransientFailure(Exception):
    """A failure worth another attempt; ``nothing_created`` says whether a create may be repeated."""

    def __init__(
        self,
        message: str,
        *,
        nothing_created: bool,
        retry_after: float | None = None,
        throttled: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.nothing_created = nothing_created
        #: The gateway said 429: the whole account must slow down, not only this caller.
        self.throttled = throttled


def interpret(
    call: Call, status: int, headers: Mapping[str, str], body: bytes, url: str = ""
) -> GenerationState:
    """Turn one answer into a generation, a :class:`TransientFailure`, or a typed error.

    * A redirect (3xx) is never followed: the gateway does not redirect its API, so one
      means the base URL is wrong (``http`` for ``https``, a moved host). Configuration
      error; a create answered so created nothing.
    * A 404 on a status lookup means "this id is gone" only when it is a JSON answer, as
      the gateway gives; an HTML or other non-JSON 404 comes from something else (a
      proxy, a web server at a wrong host or path) and is a configuration error that says
      nothing about the generation, so it can never lead to a new payment.
    * A status answer names the id that was asked for; another id is a malformed answer
      (transient), never a result filed under the wrong generation.
    """
    if 200 <= status < 300:
        try:
            state = parse_generation(decode_json(body))
        except MissingGenerationIdError as exc:
            # The vendor CLI treats a 200 without an id as a failed creation: nothing exists.
            said = f" ({exc.gateway_error.message})" if exc.gateway_error else ""
            raise TransientFailure(f"HTTP {status} but {exc}{said}", nothing_created=True) from None
        except MalformedResponseError as exc:
            raise TransientFailure(f"HTTP {status} but {exc}", nothing_created=False) from None
        if call.generation_id is not None and not call.creates and state.generation_id != call.generation_id:
            raise TransientFailure(
                f"HTTP {status} but the answer is about generation {state.generation_id[:64]!r}, "
                f"not {call.generation_id!r}: a malformed answer, not used",
                nothing_created=False,
            )
        return state
    message = f"HTTP {status}: {error_message(body)}"
    gid = call.generation_id
    if 300 <= status < 400:
        where = headers.get("Location") or "(no Location)"
        raise I2VConnectionConfigError(
            f"{url or call.path} answered a redirect (HTTP {status} to {where[:200]}): the connection's "
            "base URL is not the gateway's (e.g. http:// where https:// is needed, or a moved host); "
            "redirects are not followed. Nothing was created.",
            generation_id=gid,
        )
    kind = classify_status(status)
    if kind is ErrorKind.TRANSIENT:
        raise TransientFailure(
            message,
            retry_after=parse_retry_after(headers.get("Retry-After")),
            nothing_created=status_proves_nothing_created(status),
            throttled=status == THROTTLED_STATUS,
        )
    if kind is ErrorKind.AUTH:
        raise I2VAuthenticationError(f"the API key was refused ({message})", generation_id=gid)
    if kind is ErrorKind.FORBIDDEN:
        raise I2VPermissionError(f"insufficient balance or permission ({message})", generation_id=gid)
    if kind is ErrorKind.NOT_FOUND:
        if call.creates:
            # The create endpoint itself is missing: this host is not the gateway (or the base
            # URL has a wrong path). No retry can fix that.
            raise I2VConnectionConfigError(
                f"{url or call.path} answered {message}: is the connection's host the Vtrix "
                "gateway's base URL?",
                generation_id=gid,
            )
        if not _is_json_object(body):
            raise I2VConnectionConfigError(
                f"{url or call.path} answered HTTP 404 with a body that is not the gateway's JSON "
                f"({error_message(body, limit=120)!r}): a proxy or a web server at a wrong host or "
                "base path answered, not the Vtrix gateway. The generation is not taken to be gone; "
                "check the connection's host.",
                generation_id=gid,
            )
        raise I2VGenerationNotFoundError(f"the gateway does not know it ({message})", generation_id=gid)
    raise I2VInvalidRequestError(f"the gateway refused the request ({message})", generation_id=gid)


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(decode_json(body), dict)
    except MalformedResponseError:
        return False


#: Failures raised before the request left this machine: nothing can have been created.
_BEFORE_SENDING = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.LocalProtocolError)


def transport_failure(exc: httpx.HTTPError | TimeoutError) -> TransientFailure:
    """A network-level failure as a :class:`TransientFailure`; only one before sending proves
    that nothing was created."""
    # A LocalProtocolError quotes the offending header, which may be the Authorization one.
    detail = "" if isinstance(exc, httpx.LocalProtocolError) else str(exc)
    detail = detail or type(exc).__name__
    return TransientFailure(
        f"{type(exc).__name__}: {detail}", nothing_created=isinstance(exc, _BEFORE_SENDING)
    )
