"""Lines and indentation of source text: the one place for line endings, leading
whitespace, indentation width and the document's indentation unit.

Line terminators are LSP's: ``\\r\\n``, ``\\n`` and ``\\r``. Tabs count as
``TAB_WIDTH`` columns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import overload

TAB_WIDTH = 4
DEFAULT_INDENT_UNIT = " " * TAB_WIDTH

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_EOL = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines with their terminators; ``"".join(split_lines(t)) == t`` always holds."""
    return _LINE.findall(text)


def detect_eol(text: str) -> str:
    """The document's line ending: the first one it uses, ``\\n`` when it has none."""
    match = _EOL.search(text)
    return match.group(0) if match else "\n"


def eol_near(before: str, after: str = "") -> str:
    """The line ending in use at a point: the last one in ``before`` (the text up to the
    point), else the first in ``after``; ``\\n`` when neither has one. Scans back only
    to the nearest line end, so a cursor in a long file costs one line."""
    end = max(before.rfind("\n"), before.rfind("\r"))
    if end < 0:
        return detect_eol(after)
    if before[end] == "\r":
        return "\r\n" if end == len(before) - 1 and after.startswith("\n") else "\r"
    return "\r\n" if end > 0 and before[end - 1] == "\r" else "\n"


def normalize_eol(text: str, eol: str) -> str:
    """Every line terminator in ``text`` replaced by ``eol``."""
    return _EOL.sub(eol, text)


def window_start(text: str, offset: int, lines: int) -> int:
    """Where a window of ``lines`` lines ending at ``offset`` begins: the newline before
    its first line, or 0. The line holding ``offset`` is one of them unless ``offset``
    is where it starts."""
    start = offset
    for _ in range(lines):
        start = text.rfind("\n", 0, max(start - 1, 0))
        if start < 0:
            return 0
    return start


def leading_whitespace(line: str) -> str:
    """The line's indentation exactly as written (tabs and spaces kept)."""
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_width(line: str) -> int:
    """The columns of the line's indentation, tabs expanded."""
    return len(leading_whitespace(line).expandtabs(TAB_WIDTH))


@overload
def detect_indent_unit(text: str) -> str: ...
@overload
def detect_indent_unit(text: str, default: None) -> str | None: ...
def detect_indent_unit(text: str, default: str | None = DEFAULT_INDENT_UNIT) -> str | None:
    """The indentation step ``text`` uses: a tab, or the most common change of
    space-indentation between non-blank lines; ``default`` when it shows none."""
    tabs = spaces = 0
    steps: dict[int, int] = {}
    previous = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        indent = leading_whitespace(line)
        if indent.startswith("\t"):
            tabs += 1
        elif indent:
            spaces += 1
        width = len(indent.expandtabs(TAB_WIDTH))
        if not indent.startswith("\t") and width != previous:
            step = abs(width - previous)
            steps[step] = steps.get(step, 0) + 1
        previous = width
    if tabs > spaces:
        return "\t"
    if not steps:
        return default
    best = max(sorted(steps), key=lambda step: steps[step])
    return " " * max(1, min(best, 8))


def indent_step(lines: Iterable[str]) -> int:
    """Columns per indentation level of space-indented ``lines`` (the gcd of their
    indentation widths), ``TAB_WIDTH`` when they show no level."""
    step = 0
    for line in lines:
        if line.strip():
            step = math.gcd(step, indent_width(line))
    return step or TAB_WIDTH


def spaces_to_tabs(line: str, step: int) -> str:
    """The line's indentation as tabs of ``step`` columns (a remainder stays spaces)."""
    lead = leading_whitespace(line)
    if not lead:
        return line
    tabs, spaces = divmod(len(lead.expandtabs(step)), step)
    return "\t" * tabs + " " * spaces + line[len(lead) :]


def tabs_to_spaces(line: str, unit: str) -> str:
    """The line's indentation with each tab replaced by ``unit``."""
    lead = leading_whitespace(line)
    if "\t" not in lead:
        return line
    return lead.replace("\t", unit) + line[len(lead) :]
