"""``i2v-simulator`` / ``python -m airflow_provider_i2v.simulator``: the simulator as a process.

For DAG authors, the demo and the end-to-end tests, which run Airflow against a
gateway in another process. It prints exactly one line on stdout once it accepts
connections (``i2v-simulator listening on http://HOST:PORT``), so a supervisor can
wait for it and read the port, and it stops cleanly on SIGTERM or SIGINT. Every
config knob is a flag, generated from its declaration in :mod:`.config` (type,
choices, help); ``--config`` takes any of them as JSON, and ``POST /_sim/config``
changes them at run time.
"""

from __future__ import annotations

import argparse
import enum
import json
import logging
import shutil
import signal
import sys
import threading
import typing
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from . import knobs
from .config import HELP_SECTIONS, SETTINGS, SimConfig
from .faults import Fault
from .server import SimulatorServer

DEFAULT_PORT = 8765
#: The words that mean JSON ``null`` for a setting that may be unset.
_NONE_WORDS = frozenset({"none", "null"})


DESCRIPTION = """\
A local simulator of the Vtrix video-generation gateway, for tests and demos: the
gateway's HTTP API on loopback, with every knob and fault below.

serves:
  POST /model/v1/generation             create a generation (bearer auth; the body
                                        checked as the gateway checks it)
  GET  /model/v1/generation/task/{id}   its status, then its video, usage, error
  GET  /files/{id}.mp4                  the generated video (no auth)
  GET  /samples/{w}x{h}.{jpg,png,webp}   a sample first frame to use as an image URL (no auth)
  /_sim/...                             control: health, config, stats, reset,
                                        requests, generations, advance (no auth)

example:
  i2v-simulator --port 8765 --generation-seconds 5 --fault 429=0.1 --seed 1
  export AIRFLOW_CONN_I2V_DEFAULT='{"conn_type": "i2v", "host": "http://127.0.0.1:8765",
    "password": "any", "extra": {"allow_private_outputs": true}}'
"""

EPILOG = """\
Once it listens it prints one line on stdout: "i2v-simulator listening on URL".
--config and POST /_sim/config take the same fields as JSON (names with
underscores). The user guide's simulator page explains every knob.
"""


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; each flag's help beside it on a line of up to 100 columns."""

    def __init__(self, prog: str) -> None:
        width = min(100, shutil.get_terminal_size(fallback=(100, 24)).columns)
        super().__init__(prog, max_help_position=40, width=width)


def build_parser() -> argparse.ArgumentParser:
    """The command line; flags left out keep the config's defaults."""
    parser = argparse.ArgumentParser(
        prog="i2v-simulator",
        usage="%(prog)s [--host HOST] [--port PORT] [--config JSON|@FILE] [KNOB ...]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    server = parser.add_argument_group("server")
    server.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    server.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"0 picks a free one (default: {DEFAULT_PORT})"
    )
    server.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        metavar="LEVEL",
        help="uvicorn's: critical, error, warning, info (default), debug, trace",
    )
    server.add_argument("--access-log", action="store_true", default=False, help="log every request")
    server.add_argument(
        "--config",
        dest="config_json",
        metavar="JSON|@FILE",
        help="config fields as a JSON object (or @path to one), applied before the flags",
    )
    sections = dict(HELP_SECTIONS)
    group = parser.add_argument_group("knobs")
    for item in SETTINGS:
        if item.name in sections:
            group = parser.add_argument_group(sections[item.name])
        _add_flag(group, item)
    return parser


def _add_flag(group: argparse._ArgumentGroup, item: knobs.Declared) -> None:
    """One knob's flag, shaped by its declared type: a switch, a repeatable flag or a value."""
    spec = item.spec
    names = [item.flag, *spec.aliases]
    default = _shown(item.default)
    text = spec.help if default == "none" else f"{spec.help} (default: {default})"
    if item.hint is bool:
        group.add_argument(*names, dest=item.name, action=argparse.BooleanOptionalAction, help=text)
        return
    options = [option for option in knobs.options(item.hint) if option is not type(None)]
    element = knobs.element_of(options[0])
    parse = _explained(spec.parse or _reader(options[0] if element is None else element))
    metavar = spec.metavar or _metavar(item, options[0] if element is None else element)
    if element is not None:  # a list: the flag is repeatable
        group.add_argument(*names, dest=item.name, action="append", type=parse, metavar=metavar, help=text)
        return
    if len(options) < len(knobs.options(item.hint)):  # may be unset: "none" says so
        parse = _or_none(parse)
    group.add_argument(*names, dest=item.name, type=parse, choices=spec.choices, metavar=metavar, help=text)


def _metavar(item: knobs.Declared, hint: Any) -> str:
    """A short placeholder: the choices (``fixed|lognormal``), ``JSON`` or the kind of value."""
    if item.spec.choices is not None:
        return "|".join(item.spec.choices)
    origin = typing.get_origin(hint) or hint
    if origin is Mapping:
        return "JSON"
    if origin in (int, float):
        return "S" if item.name.endswith("seconds") or item.name.endswith("_p95") else "N"
    return "TEXT"


def _reader(hint: Any) -> Callable[[str], Any]:
    """How one command-line word becomes a value of type ``hint``: JSON for an object."""
    origin = typing.get_origin(hint) or hint
    if origin is Mapping:
        return _json_object
    if origin in (int, float, str):
        return origin  # type: ignore[no-any-return]
    return str


def _explained(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse``, its ``ValueError`` shown to the user as it is (argparse would hide it)."""

    def read(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None

    return read


def _or_none(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse``, and ``none`` (or ``null``) for a setting that may be unset."""

    def read(text: str) -> Any:
        return None if text.strip().lower() in _NONE_WORDS else parse(text)

    return read


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _shown(value: Any) -> str:
    """A default as the help shows it: ``none`` for unset or empty."""
    if value is None or (isinstance(value, tuple | dict) and not value):
        return "none"
    return str(value)


_SERVER_FLAGS = frozenset({"host", "port", "log_level", "access_log", "config_json"})


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The config the flags describe; ``ValueError`` names a bad one."""
    changes: dict[str, Any] = {}
    raw = getattr(args, "config_json", None)
    if raw is not None:
        if raw.startswith("@"):
            with open(raw[1:], encoding="utf-8") as handle:
                raw = handle.read()
        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise ValueError("--config must be a JSON object")
        changes.update(loaded)
    changes.update({name: value for name, value in vars(args).items() if name not in _SERVER_FLAGS})
    return SimConfig().updated(changes)


def startup_summary(seed: int, config: SimConfig) -> str:
    """The start-up log's line: the seed (to replay a run) and every knob not at its default.

    Values as the flags spell them (``fault 429=0.1@poll``), never Python reprs; accepted
    API keys are counted, never shown.
    """
    changed = []
    for item in SETTINGS:
        value = getattr(config, item.name)
        if item.name == "seed" or value == item.default:
            continue
        if item.name == "api_keys":
            changed.append(f"api_keys: {len(value)} accepted")
        elif item.name == "faults":
            changed.extend(f"fault {_fault_text(fault)}" for fault in value)
        else:
            changed.append(f"{item.name} {_value_text(value)}")
    knobs = ", ".join(changed) if changed else "every knob at its default"
    return f"seed {seed}; {knobs} (GET /_sim/config lists every knob)"


def _fault_text(fault: Fault) -> str:
    """A fault as ``--fault`` takes it: ``http_429=0.1@poll``, ``reset=first:1@create``."""
    amount = f"first:{fault.first_n}" if fault.first_n is not None else f"{fault.rate:g}"
    return f"{fault.kind.value}={amount}@{fault.scope}"


def _value_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True)
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT; exit status 0 after a clean stop, 2 on bad flags."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    server = SimulatorServer(
        config,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        configure_logging=True,
    )
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        print(f"i2v-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"i2v-simulator listening on {server.url}", flush=True)
    logging.getLogger("uvicorn.error").info(
        "i2v-simulator: %s", startup_summary(server.simulator.seed, config)
    )
    try:
        while not stop.wait(0.5):
            if not server.running:
                print("i2v-simulator: the server stopped unexpectedly", file=sys.stderr)
                return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
