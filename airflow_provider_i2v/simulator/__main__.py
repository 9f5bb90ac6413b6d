"""``i2v-simulator`` / ``python -m airflow_provider_i2v.simulator``: the simulator as a process.

For DAG authors, the demo and the end-to-end tests, which run Airflow against a
gateway in another process. It prints exactly one line on stdout once it accepts
connections (``i2v-simulator listening on http://HOST:PORT``), so a supervisor can
wait for it and read the port, and it stops cleanly on SIGTERM or SIGINT. Every
config knob is reachable: the common ones as flags, all of them through
``--config`` (JSON), and at run time through ``POST /_sim/config``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from .config import (
    CREATED_AT_UNITS,
    ERROR_BODIES,
    ERROR_CODE_FORMS,
    ERROR_SHAPES,
    RETRY_AFTER_FORMS,
    Fault,
    SimConfig,
)
from .server import SimulatorServer

DEFAULT_PORT = 8765


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
    parser.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help="an accepted API key (repeatable); default: any non-empty key",
    )
    parser.add_argument("--generation-seconds", type=float, help="time from creation to completion")
    parser.add_argument("--seed", type=int, help="seed of every random choice (ids, failures, faults)")
    parser.add_argument("--fail-code", help="every generation fails with this code (e.g. 010006095)")
    parser.add_argument("--fail-rate", type=float, help="fraction of generations that fail (0..1)")
    parser.add_argument("--fail-message", help="message of failed generations")
    parser.add_argument("--error-shape", choices=ERROR_SHAPES, help="shape of a failed generation's error")
    parser.add_argument("--error-code-form", choices=ERROR_CODE_FORMS, help="error code as string or int")
    parser.add_argument(
        "--fault",
        dest="faults",
        action="append",
        metavar="KIND=RATE[@SCOPE]",
        help=(
            "inject a fault (repeatable): KIND is NNN/http_NNN, reset, drop, slow, malformed_json, "
            "truncated_body, huge_body, missing_id or lost_create_answer; RATE a fraction or first:N; "
            "SCOPE create, poll, files or all. Example: --fault 429=0.1@poll --fault reset=first:1@create"
        ),
    )
    parser.add_argument("--retry-after", type=float, help="Retry-After of 429/503 faults, in seconds")
    parser.add_argument(
        "--retry-after-form", choices=RETRY_AFTER_FORMS, help="Retry-After as seconds or date"
    )
    parser.add_argument("--slow-seconds", type=float, help="delay of the 'slow' fault")
    parser.add_argument("--error-body", choices=ERROR_BODIES, help="body style of faulted HTTP errors")
    parser.add_argument("--public-url", help="base URL written into output file URLs")
    parser.add_argument("--file-size", type=int, help="size in bytes of every output file")
    parser.add_argument("--cost", help='usage.cost as sent (a string such as "0.2800")')
    parser.add_argument("--running-status", help="spelling of the running status (e.g. pending)")
    parser.add_argument("--completed-status", help="spelling of the completed status (e.g. success)")
    parser.add_argument("--unknown-status-polls", type=int, help="first N polls answer an unknown status")
    parser.add_argument("--created-at-unit", choices=CREATED_AT_UNITS, help="created_at in seconds or ms")
    parser.add_argument("--no-progress", dest="report_progress", action="store_false", help="omit progress")
    return parser


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
    for name, value in vars(args).items():
        if name in _SERVER_FLAGS:
            continue
        if name == "faults":
            value = [Fault.parse(text) for text in value]
        changes[name] = value
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
