"""The one table ``python -m benchmarks`` prints: figure, target, anchor, met or not."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version


@dataclass
class Row:
    key: str
    figure: str
    value: str
    target: str
    anchor: str
    #: True: met, False: not met, None: no target (a figure shown for context).
    met: bool | None = None

    @property
    def status(self) -> str:
        return {True: "met", False: "NOT MET", None: "-"}[self.met]


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(
        self, key: str, figure: str, value: str, target: str = "-", anchor: str = "-", met: bool | None = None
    ) -> None:
        self.rows.append(Row(key, figure, value, target, anchor, met))

    def section(self, key: str, title: str) -> None:
        self.sections[key] = title

    def render(self) -> str:
        widths = [14, 46, 42, 20, 50]
        lines = [self.title, "=" * len(self.title), *environment()]
        header = ["key", "figure", "value", "target", "anchor (same run)", "status"]
        titles = dict(self.sections)
        for row in self.rows:
            titles.setdefault(row.key.split(".")[0], f"{row.key.split('.')[0]}. (section failed)")
        for prefix, title in sorted(titles.items()):
            rows = [r for r in self.rows if r.key.split(".")[0] == prefix]
            if not rows:
                continue
            lines += ["", title, "-" * len(title)]
            lines.append(_line(header, widths))
            for r in rows:
                lines.append(_line([r.key, r.figure, r.value, r.target, r.anchor, r.status], widths))
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines)


def _line(cells: list[str], widths: list[int]) -> str:
    out = []
    for cell, width in zip(cells, [*widths, 0], strict=False):
        out.append(cell.ljust(width) if width else cell)
    return "  ".join(out).rstrip()


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def environment() -> list[str]:
    load = os.getloadavg()
    return [
        f"machine: {os.cpu_count()} cores ({platform.machine()}), load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f} at the end",
        f"python {sys.version.split()[0]}, apache-airflow {_version('apache-airflow')}, httpx "
        f"{_version('httpx')}, httpcore {_version('httpcore')}, airflow-provider-i2v "
        f"{_version('airflow-provider-i2v')}",
    ]
