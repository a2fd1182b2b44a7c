"""Code blocks by indentation, language-agnostic: how deep a line is, where a block that
a header line opens ends, and which function or block encloses a line.

A block is its header, every following line indented deeper, and a closing line
(``}``, ``end``, ``fi``…) at the header's own indentation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .lines import indent_width

# Lines scanned upwards for the enclosing function of a line.
MAX_SCAN_LINES = 2000

# How a line that closes a block starts.
CLOSERS = ("}", ")", "]", "end", "fi", "done", "esac", "</")

_FUNCTION_HEADER = re.compile(
    r"^\s*(?:(?:export|default|pub(?:\([^)]*\))?|public|private|protected|internal|static|"
    r"async|override|final|abstract|inline|local|extern|unsafe|const|open)\s+)*"
    r"(?:def|class|function\*?|func|fn|sub|impl|trait|struct|interface|enum|module|"
    r"procedure|macro_rules!)\b"
)
# A line that opens a block: ends with ":" (Python), "{" or "=>" / "->" openers.
_BLOCK_OPENER = re.compile(r"(?::|\{|\bdo|\bthen|=>\s*\{?|->)\s*(?:#.*|//.*)?$")


def is_closer(line: str) -> bool:
    return line.strip().startswith(CLOSERS)


def block_end(lines: Sequence[str], header: int) -> int:
    """End (exclusive) of the block whose header is ``lines[header]``."""
    base = indent_width(lines[header])
    last = header
    for index in range(header + 1, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        width = indent_width(line)
        if width > base:
            last = index
            continue
        if width == base and is_closer(line):
            last = index
        break
    return last + 1


def _with_decorators(lines: Sequence[str], header: int) -> int:
    """Move a Python/TS/Java header up over the decorators/annotations right above it."""
    base = indent_width(lines[header])
    start = header
    while (
        start > 0
        and lines[start - 1].lstrip().startswith("@")
        and indent_width(lines[start - 1]) == base
    ):
        start -= 1
    return start


def enclosing_block(lines: Sequence[str], line: int) -> tuple[int, int]:
    """The lines ``[start, end)`` of the function (or else the innermost block) around
    ``line``; just ``line`` when it is in none.

    Headers are recognised by keyword (``def``, ``function``, ``fn``, ``class``…) or by
    ending in a block opener (``:``, ``{``).
    """
    if not lines:
        return 0, 0
    line = max(0, min(line, len(lines) - 1))
    anchor = line
    while anchor > 0 and not lines[anchor].strip():
        anchor -= 1  # a blank line belongs to the code above it
    if not lines[anchor].strip():
        return line, line + 1
    innermost: tuple[int, int] | None = None
    limit = max(-1, anchor - MAX_SCAN_LINES)
    depth = indent_width(lines[anchor]) + 1  # the anchor itself may be a header
    for index in range(anchor, limit, -1):
        text = lines[index]
        if not text.strip() or indent_width(text) >= depth:
            continue
        depth = indent_width(text)
        is_function = _FUNCTION_HEADER.match(text) is not None
        if is_function or _BLOCK_OPENER.search(text.rstrip()) is not None:
            end = block_end(lines, index)
            if end > line or index == line:  # else: a block that ended above the cursor
                span = (_with_decorators(lines, index), max(end, index + 1))
                if is_function:
                    return span
                innermost = innermost or span
        if depth == 0:
            break
    return innermost or (line, line + 1)
