"""Code blocks of the docs, found by a rule that survives edits of the text around them.

A recipe block is the fenced block right after an HTML comment ``<!-- recipe: NAME -->``
(invisible on the rendered page). A block that writes a file names it on its first line,
as a comment (``# dags/product_videos.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_BLOCK = re.compile(
    r"(?:<!--\s*recipe:\s*(?P<name>[\w/.-]+)\s*-->\s*\n)?^```(?P<lang>[\w-]*)[^\n]*\n(?P<text>.*?)^```\s*$",
    re.DOTALL | re.MULTILINE,
)
_FILE_LINE = re.compile(r"^(?:#|//)\s*(?P<path>[\w./-]+\.\w+)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, text, recipe name (if marked) and line number."""

    lang: str
    text: str
    name: str | None
    line: int

    @property
    def file_path(self) -> str:
        """The path the block's first line names (``# dags/x.py``); ``AssertionError`` if none."""
        match = _FILE_LINE.match(self.text.splitlines()[0])
        assert match, f"line {self.line}: the block's first line must name its file, e.g. '# dags/x.py'"
        return match.group("path")


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    return [
        Block(m.group("lang"), m.group("text"), m.group("name"), text.count("\n", 0, m.start("text")) + 1)
        for m in _BLOCK.finditer(text)
    ]


def recipe(page: Path, name: str) -> Block:
    """The block marked ``<!-- recipe: name -->`` in ``page`` (exactly one)."""
    found = [block for block in blocks(page) if block.name == name]
    assert len(found) == 1, (
        f"{page.name}: expected one block marked '<!-- recipe: {name} -->', found {len(found)}"
    )
    return found[0]


def section(page: Path, heading: str) -> str:
    """The text of ``page`` from the ``## heading`` line to the next heading of that level or higher."""
    text = page.read_text(encoding="utf-8")
    match = re.search(rf"^(#+) {re.escape(heading)}\s*$", text, re.MULTILINE)
    assert match, f"{page.name}: no heading {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest
