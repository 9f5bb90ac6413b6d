"""Where the gateway is, how requests are authenticated, and what a generation id looks like."""

from __future__ import annotations

import re
import string
from urllib.parse import quote

DEFAULT_BASE_URL = "https://cloud.vtrix.ai"
CREATE_PATH = "/model/v1/generation"
_POLL_PREFIX = "/model/v1/generation/task/"

#: Cap on the body of any single gateway answer. A poll answer is a few hundred
#: bytes; anything near this is a hostile or broken server.
MAX_RESPONSE_BYTES = 4 * 1024 * 1024

#: Generation ids are opaque strings; the ones seen are 20 lowercase alphanumerics.
ID_ALPHABET = string.ascii_lowercase + string.digits
ID_LENGTH = 20
_FILE_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def poll_path(generation_id: str) -> str:
    """Path of the status endpoint for ``generation_id`` (the id is path-quoted)."""
    return _POLL_PREFIX + quote(generation_id, safe="")


def generation_id_from_poll_path(path: str) -> str | None:
    """Inverse of :func:`poll_path` (for the simulator's router)."""
    if not path.startswith(_POLL_PREFIX):
        return None
    rest = path[len(_POLL_PREFIX) :]
    return rest or None


def is_file_safe_id(generation_id: str) -> bool:
    """True when the id can name a file as it is: no ``/``, no ``..``, no leading dot.

    The id comes from the gateway; one that cannot be used verbatim in a file name
    is refused rather than rewritten, so two ids never map to one file.
    """
    return _FILE_SAFE_ID.fullmatch(generation_id) is not None


def auth_header(api_key: str) -> dict[str, str]:
    """The gateway's bearer-token header (none without a key). Never log the result."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def bearer_token(authorization: str | None) -> str | None:
    """Extract the key from an ``Authorization`` header (server side)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
