"""Summaries of a py-spy ``--format raw`` profile (collapsed stacks: ``frame;frame;... count``).

    python -m benchmarks.profile PROFILE [--top 25]

Prints the share of samples by *self* function (the innermost frame) and by *inclusive*
area (any frame of the stack inside a package: httpx, httpcore, the provider, greenback,
asyncio, logging ...), so a before/after pair of profiles shows what an optimisation removed.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

#: Inclusive areas, by a pattern on a frame's file: the first match of a frame counts.
AREAS: dict[str, str] = {
    "connection pool: choosing a connection": (
        r"_assign_requests_to_connections|LifoPool\._acquire|LifoPool\.release|LifoPool\._wait"
    ),
    "connection look-up (aget_connection / shared)": r"aget_connection|aget_settings|shared_settings",
    "time-outs (asyncio.timeout)": r"^(Timeout\.__a(enter|exit)__|timeout_at|timeout) \(asyncio/timeouts",
    "provider: triggers/i2v.py": r"airflow_provider_i2v/triggers/",
    "provider: hooks/transport.py": r"airflow_provider_i2v/hooks/transport\.py",
    "provider: hooks/interpret.py (parse)": r"airflow_provider_i2v/hooks/interpret\.py",
    "provider: hooks/body.py": r"airflow_provider_i2v/hooks/body\.py",
    "provider: hooks/i2v.py": r"airflow_provider_i2v/hooks/i2v\.py",
    "provider: schedule.py": r"airflow_provider_i2v/schedule\.py",
    "provider: progress.py": r"airflow_provider_i2v/progress\.py",
    "provider: protocol/": r"airflow_provider_i2v/protocol/",
    "httpx": r"[(/]httpx/",
    "httpcore": r"[(/]httpcore/",
    "tenacity": r"[(/]tenacity/",
    "logging/structlog": r"[(/](logging|structlog)/",
    "greenback": r"[(/]greenback/",
    "json": r"[(/]json/",
    "asyncio": r"[(/]asyncio/",
    "anyio": r"[(/]anyio/",
    "h11": r"[(/]h11/",
    "airflow": r"[(/]airflow/",
}
_IDLE = re.compile(r"\((concurrent/futures/thread|threading)\.py")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def load(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _name(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "wt-perf/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file})"


def summarise(path: Path, top: int = 25, only: str | None = None) -> dict[str, list[tuple[str, float]]]:
    """Shares of samples; ``only``: keep the stacks with a frame matching this pattern (e.g.
    ``_run_once``: the event loop's thread, not idle helper threads)."""
    stacks = load(path)
    # Helper threads waiting for work (thread pools, log shippers) are not the event loop.
    stacks = [(frames, count) for frames, count in stacks if not any(_IDLE.search(f) for f in frames)]
    if only:
        keep = re.compile(only)
        stacks = [(frames, count) for frames, count in stacks if any(keep.search(f) for f in frames)]
    total = sum(count for _, count in stacks) or 1
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    compiled = {name: re.compile(pattern) for name, pattern in AREAS.items()}
    for frames, count in stacks:
        own[_name(frames[-1])] += count
        seen = set()
        for frame in frames:
            for name, pattern in compiled.items():
                if name not in seen and pattern.search(frame):
                    seen.add(name)
        for name in seen:
            areas[name] += count
    return {
        "self": [(name, 100.0 * count / total) for name, count in own.most_common(top)],
        "inclusive": [(name, 100.0 * count / total) for name, count in areas.most_common()],
        "samples": [("samples", float(total))],
    }


def render(path: Path, top: int = 25, only: str | None = None) -> str:
    summary = summarise(path, top, only)
    lines = [f"{path.name}: {int(summary['samples'][0][1])} samples"]
    lines.append("  inclusive (any frame in):")
    lines += [f"    {share:5.1f} %  {name}" for name, share in summary["inclusive"]]
    lines.append("  self (innermost frame):")
    lines += [f"    {share:5.1f} %  {name}" for name, share in summary["self"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", default=None, help="keep only stacks with a frame matching this")
    args = parser.parse_args(argv)
    print(render(args.profile, args.top, args.only or None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
