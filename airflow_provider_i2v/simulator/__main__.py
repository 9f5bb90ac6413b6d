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
import json
import logging
import signal
import sys
import threading
import typing
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from . import settings
from .config import SETTINGS, SimConfig
from .server import SimulatorServer

DEFAULT_PORT = 8765
#: The words that mean JSON ``null`` for a setting that may be unset.
_NONE_WORDS = frozenset({"none", "null"})


def build_parser() -> argparse.ArgumentParser:
    """The command line; flags left out keep the config's defaults."""
    parser = argparse.ArgumentParser(
        prog="i2v-simulator",
        description="A local simulator of the Vtrix video-generation gateway (for tests and demos).",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port; 0 picks a free one (default: {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug", "trace"),
        help="uvicorn's log level (default: info)",
    )
    parser.add_argument("--access-log", action="store_true", default=False, help="log every request")
    parser.add_argument(
        "--config",
        dest="config_json",
        metavar="JSON|@FILE",
        help="a JSON object of config fields (applied before the flags below), or @path to one",
    )
    knobs = parser.add_argument_group("config knobs (see docs/simulator.md)")
    for item in SETTINGS:
        _add_flag(knobs, item)
    return parser


def _add_flag(group: argparse._ArgumentGroup, item: settings.Declared) -> None:
    """One knob's flag, shaped by its declared type: a switch, a repeatable flag or a value."""
    spec = item.spec
    names = [item.flag, *spec.aliases]
    text = f"{spec.help} (default: {_shown(item.default)})"
    if item.hint is bool:
        group.add_argument(*names, dest=item.name, action=argparse.BooleanOptionalAction, help=text)
        return
    options = [option for option in settings.options(item.hint) if option is not type(None)]
    element = settings.element_of(options[0])
    parse = _explained(spec.parse or _reader(options[0] if element is None else element))
    if element is not None:  # a list: the flag is repeatable
        group.add_argument(
            *names, dest=item.name, action="append", type=parse, metavar=spec.metavar, help=text
        )
        return
    if len(options) < len(settings.options(item.hint)):  # may be unset: "none" says so
        parse = _or_none(parse)
    group.add_argument(
        *names, dest=item.name, type=parse, choices=spec.choices, metavar=spec.metavar, help=text
    )


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
        "i2v-simulator: seed %d, generation_seconds %s, faults %s (GET %s/_sim/config for all knobs)",
        server.simulator.seed,
        config.generation_seconds,
        [fault.to_dict() for fault in config.faults] or "none",
        server.url,
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
