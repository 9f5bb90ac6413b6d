"""The simulator's knobs: one mutable dataclass, each knob declared once, validated from that.

Everything the real gateway has been seen or documented to do that a client must
tolerate has a knob here, so a test can make the simulator behave like the real gateway
on its worst day. Each field is declared with
:func:`~.knobs.setting`: its annotation is its type, then its default, help text,
choices and bounds; validation, the JSON reading and the ``i2v-simulator`` flags are
all generated from that (see :mod:`.settings`). The same object is changed in-process
(``sim.configure(...)``) and over HTTP (``POST /_sim/config``); both go through
:meth:`SimConfig.updated`, which validates, so a typo fails loudly instead of silently
testing nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_i2v.protocol import TASK_CREATION_ERROR, GenerationStatus

from . import knobs, rules
from .faults import FAULT_KINDS, FAULT_SCOPES, SURVIVABLE_FAULTS, Fault, FaultKind, survivable_faults
from .knobs import setting

__all__ = [  # the fault names were always importable from here
    "FAULT_KINDS",
    "FAULT_SCOPES",
    "SURVIVABLE_FAULTS",
    "Fault",
    "FaultKind",
    "SimConfig",
    "survivable_faults",
]

#: ``rotate`` takes each style in turn, answer after answer.
ROTATE = "rotate"
#: Bodies of a faulted HTTP error: ``{"message"}``, ``{"error": "..."}``, ``{"error": {"message"}}``, HTML.
ERROR_BODY_STYLES = ("message", "error_string", "error_object", "text")
#: Bodies of the ``malformed_json`` fault.
MALFORMED_STYLES = ("truncated", "html", "empty", "not_object")
#: The code of the failed creation the ``missing_id`` fault answers on a create.


@dataclass
class SimConfig:
    """Everything that shapes the simulator's answers. Mutable while it runs.

    Assigning an attribute directly takes effect on the next request but skips
    validation; prefer ``Simulator.configure(...)`` or :meth:`updated`.
    """

    # ---------------------------------------------------------------- auth
    api_keys: tuple[str, ...] = setting(
        (),
        help="an accepted bearer key (repeatable); none: any non-empty key",
        convert=rules.keys,
        check=rules.non_empty_keys,
        flag="--api-key",
        metavar="KEY",
    )
    # ---------------------------------------------------------------- timing
    generation_seconds: float = setting(
        5.0,
        help="time from creation to completion or failure (the median with render_time lognormal)",
        minimum=0,
    )
    render_time: str = setting(
        "fixed",
        help="each generation's time: fixed (generation_seconds) or lognormal (drawn once at creation)",
        choices=("fixed", "lognormal"),
    )
    generation_seconds_p95: float | None = setting(
        None, help="render_time lognormal: 95th percentile of the time (>= generation_seconds)", minimum=0
    )
    queue_fraction: float = setting(
        0.0,
        help="first fraction of each generation's time spent queued: progress stays 0",
        minimum=0,
        maximum=1,
    )
    queue_status: str | None = setting(
        None,
        help="status spelling while queued (e.g. in_queue, pending); none: running_status",
        check=rules.spelling_of(GenerationStatus.RUNNING),
    )
    report_progress: bool = setting(
        True, help="send progress while running and 1.0 on the completed answer", aliases=("--progress",)
    )
    progress_step: float | None = setting(
        None,
        help="coarse progress: rounded down to multiples of this (e.g. 0.1); none: fine-grained",
        minimum=0,
        maximum=1,
        exclusive=True,
    )
    # ---------------------------------------------------------------- answers
    running_status: str = setting(
        GenerationStatus.RUNNING.wire,
        help="spelling of the running status (create answer and running polls, e.g. pending)",
        check=rules.spelling_of(GenerationStatus.RUNNING),
    )
    completed_status: str = setting(
        GenerationStatus.COMPLETED.wire,
        help="spelling of the completed status (e.g. success)",
        check=rules.spelling_of(GenerationStatus.COMPLETED),
    )
    failed_status: str = setting(
        GenerationStatus.FAILED.wire,
        help="spelling of the failed status",
        check=rules.spelling_of(GenerationStatus.FAILED),
    )
    unknown_status: str = setting(
        "warming_up", help="the made-up status of the first polls", check=rules.spelling_of(None)
    )
    unknown_status_polls: int = setting(
        0, help="the first N polls of each generation answer unknown_status", minimum=0
    )
    created_at_unit: str = setting(
        "seconds",
        help="created_at in seconds or milliseconds since the epoch",
        choices=("seconds", "milliseconds"),
    )
    cost: str | int | float = setting(
        "0.2800", help='usage.cost as sent: the contract\'s string ("0.2800"), a number or ""', parse=str
    )
    usage_extra: Mapping[str, Any] = setting(
        default_factory=dict, help="extra usage keys, a JSON object (discount is always there)"
    )
    output_mode: str = setting(
        "video",
        help='output: one video, [{"content": []}] (empty_content) or [] (empty)',
        choices=("video", "empty_content", "empty"),
    )
    output_extra: Mapping[str, Any] = setting(
        default_factory=dict, help='extra keys of the video entry, a JSON object ({"duration": "6"})'
    )
    gzip_answers: bool = setting(
        False, help="gzip-encode answer bodies for clients that send Accept-Encoding: gzip"
    )
    # ---------------------------------------------------------------- failures
    fail_code: str | None = setting(
        None,
        help="failure code (e.g. 010006095): alone, every generation fails with it",
        convert=rules.error_code,
    )
    fail_rate: float | None = setting(
        None,
        help="fraction of generations that fail (with fail_code, else a known code at random)",
        minimum=0,
        maximum=1,
    )
    fail_message: str | None = setting(None, help="message of failures; none: the code's meaning")
    error_shape: str = setting(
        "object",
        help='a failure\'s error: {"code", "error_message"} (object), {"code", "message"}, or a string',
        choices=("object", "object_message", "string"),
    )
    error_code_form: str = setting(
        "int",
        help="the code as the model page types it, an integer (10006095), or the nine-digit string",
        choices=("int", "string"),
    )
    create_error_code: str = setting(
        TASK_CREATION_ERROR,
        help="code of the failed creation that the missing_id fault answers on a create",
        convert=rules.error_code,
    )
    # ---------------------------------------------------------------- faults
    faults: tuple[Fault, ...] = setting(
        (),
        help=(
            "inject a fault (repeatable): KIND is NNN/http_NNN or "
            f"{', '.join(FAULT_KINDS)}; RATE a fraction or first:N; SCOPE {', '.join(FAULT_SCOPES)}. "
            "Example: --fault 429=0.1@poll --fault reset=first:1@create"
        ),
        convert=lambda value: () if value is None else value,
        flag="--fault",
        parse=Fault.parse,
        metavar="KIND=RATE[@SCOPE]",
    )
    retry_after: float | None = setting(
        1.0, help="Retry-After of 429 and 503 faults, in seconds (none: no header)", minimum=0
    )
    retry_after_form: str = setting(
        "seconds", help="Retry-After as delta-seconds or an HTTP date", choices=("seconds", "date")
    )
    slow_seconds: float = setting(
        3.0,
        help="hold of the slow fault: the work is done (a create creates), then the answer waits this long",
        minimum=0,
    )
    huge_body_mib: float = setting(16.0, help="size of the huge_body fault's body, in MiB", minimum=0)
    huge_body_chunked: bool = setting(True, help="send the huge_body fault's body without a Content-Length")
    error_body: str = setting(
        ROTATE,
        help="body of faulted HTTP errors (or rotate through them)",
        choices=(ROTATE, *ERROR_BODY_STYLES),
    )
    malformed_body: str = setting(
        ROTATE,
        help="body of the malformed_json fault (or rotate through them)",
        choices=(ROTATE, *MALFORMED_STYLES),
    )
    # ---------------------------------------------------------------- output files
    public_url: str | None = setting(
        None, help="base URL of output files; none: the scheme and Host the client used", check=rules.http_url
    )
    video_mode: str = setting(
        "synthetic",
        help="output files: synthetic (cheap deterministic bytes) or rendered (a playable MP4 of the image)",
        choices=("synthetic", "rendered"),
        check=rules.renderable,
    )
    file_size: int = setting(256 * 1024, help="size in bytes of every synthetic output file", minimum=1)
    video_width: int = setting(
        640, help="width of rendered videos", minimum=16, maximum=1920, check=rules.even
    )
    video_height: int = setting(
        360, help="height of rendered videos", minimum=16, maximum=1080, check=rules.even
    )
    video_fps: int = setting(24, help="frame rate of rendered videos", minimum=1, maximum=60)
    # ---------------------------------------------------------------- the simulator itself
    seed: int | None = setting(
        None, help="seed of every random choice (ids, times, failures, faults); none: fresh per run"
    )
    record_limit: int = setting(
        100_000, help="request records kept, oldest dropped first (applies at the next reset)", minimum=1
    )

    def __post_init__(self) -> None:
        for item in SETTINGS:
            setattr(self, item.name, knobs.normalised(item, getattr(self, item.name)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first knob that makes no sense."""
        for item in SETTINGS:
            problem = knobs.problem(item, getattr(self, item.name))
            if problem is not None:
                raise ValueError(problem if problem.startswith(item.name) else f"{item.name} {problem}")
        if self.render_time == "lognormal" and (
            self.generation_seconds_p95 is None or self.generation_seconds_p95 < self.generation_seconds
        ):
            raise ValueError("render_time lognormal needs generation_seconds_p95 >= generation_seconds")

    @property
    def effective_fail_rate(self) -> float:
        """The fraction of generations that fail: see ``fail_code``/``fail_rate``."""
        if self.fail_rate is not None:
            return self.fail_rate
        return 1.0 if self.fail_code is not None else 0.0

    def updated(self, changes: Mapping[str, Any]) -> SimConfig:
        """A validated copy with ``changes`` (JSON-shaped values are accepted) applied."""
        knobs.check_names(SETTINGS, changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_sim/config`` (accepted back by ``POST``)."""
        return {item.name: _jsonable(getattr(self, item.name)) for item in SETTINGS}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [item.to_dict() if isinstance(item, Fault) else item for item in value]
    return dict(value) if isinstance(value, Mapping) else value


SETTINGS: tuple[knobs.Declared, ...] = knobs.declared(SimConfig)

#: The sections of ``i2v-simulator --help``: each starts at the named field and runs to the
#: next section's (fields in declaration order, as grouped above).
HELP_SECTIONS: tuple[tuple[str, str], ...] = (
    ("api_keys", "auth"),
    ("generation_seconds", "timing and progress"),
    ("running_status", "answers (spellings, usage, output)"),
    ("fail_code", "failed generations"),
    ("faults", "faults (HTTP errors, resets, slow and broken answers)"),
    ("public_url", "output files"),
    ("seed", "the simulator itself"),
)
