"""The Vtrix gateway's wire contract, in one package (docs/simulator.md shows the wire bodies).

Every path, field name, status spelling, error code and HTTP-status meaning the
provider knows about lives here. The hook and trigger use it to build requests and
read answers; the simulator uses it to read requests and build answers, so the two
can never drift apart. One module per job:

* :mod:`.endpoints`: base URL, paths, auth header, answer size cap, what an id looks like;
* :mod:`.models`: the models and their documented limits and defaults;
* :mod:`.requests`: the create request, its body, its parameter checks;
* :mod:`.statuses`: the three states and every spelling of them;
* :mod:`.errors`: generation error codes and error shapes;
* :mod:`.answers`: reading create and poll answers;
* :mod:`.http_errors`: what an HTTP status means (and which prove nothing was created);
* :mod:`.render`: the gateway's bodies, for the simulator;
* :mod:`.values`: JSON type checks (an int that is not a bool, a finite number).

Pure Python (no httpx, no Airflow): cheap to import and unit-testable.
"""

from __future__ import annotations

from .answers import (
    USAGE_COST,
    GenerationState,
    MalformedResponseError,
    MissingGenerationIdError,
    OutputItem,
    cost_of,
    decode_json,
    parse_created_at,
    parse_generation,
    parse_progress,
)
from .endpoints import (
    CREATE_PATH,
    DEFAULT_BASE_URL,
    ID_ALPHABET,
    ID_LENGTH,
    MAX_RESPONSE_BYTES,
    auth_header,
    bearer_token,
    generation_id_from_poll_path,
    is_file_safe_id,
    poll_path,
)
from .errors import (
    KNOWN_ERROR_CODES,
    TASK_CREATION_ERROR,
    UNKNOWN_FAILURE,
    GenerationError,
    message_of,
    normalise_error_code,
)
from .http_errors import (
    NOT_PROCESSED_STATUSES,
    THROTTLED_STATUS,
    ErrorKind,
    classify_status,
    error_message,
    parse_retry_after,
    status_proves_nothing_created,
)
from .models import DEFAULT_MODEL, MINIMAX_I2V_01_LIVE, MODELS, ModelSpec
from .render import render_error, render_generation, render_usage
from .requests import (
    GenerationRequest,
    MalformedRequestError,
    describe_image_reference,
    is_http_url,
    parameter_problems,
    params_of,
)
from .statuses import STATUS_SPELLINGS, GenerationStatus, normalise_status
from .values import finite_float, is_int, is_number

__all__ = [
    "CREATE_PATH",
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "ID_ALPHABET",
    "ID_LENGTH",
    "KNOWN_ERROR_CODES",
    "MAX_RESPONSE_BYTES",
    "MINIMAX_I2V_01_LIVE",
    "MODELS",
    "NOT_PROCESSED_STATUSES",
    "STATUS_SPELLINGS",
    "TASK_CREATION_ERROR",
    "THROTTLED_STATUS",
    "UNKNOWN_FAILURE",
    "USAGE_COST",
    "ErrorKind",
    "GenerationError",
    "GenerationRequest",
    "GenerationState",
    "GenerationStatus",
    "MalformedRequestError",
    "MalformedResponseError",
    "MissingGenerationIdError",
    "ModelSpec",
    "OutputItem",
    "auth_header",
    "bearer_token",
    "classify_status",
    "cost_of",
    "decode_json",
    "describe_image_reference",
    "error_message",
    "finite_float",
    "generation_id_from_poll_path",
    "is_file_safe_id",
    "is_http_url",
    "is_int",
    "is_number",
    "message_of",
    "normalise_error_code",
    "normalise_status",
    "parameter_problems",
    "params_of",
    "parse_created_at",
    "parse_generation",
    "parse_progress",
    "parse_retry_after",
    "poll_path",
    "render_error",
    "render_generation",
    "render_usage",
    "status_proves_nothing_created",
]
