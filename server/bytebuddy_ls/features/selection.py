"""The span of a document a model-driven edit works on."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

from ..documents import Document
from ..prompting.blocks import enclosing_block


@dataclass(frozen=True)
class Selection:
    """A span of a document, as code-point offsets and as the client's range."""

    start: int
    end: int
    range: types.Range
    text: str
    line_prefix: str  # the text on the start line before the selection


def selection_for(document: Document, range_: types.Range) -> Selection:
    """The selection ``range_`` covers; an empty range selects the enclosing function or
    block (see :func:`~bytebuddy_ls.prompting.blocks.enclosing_block`), or the line."""
    text = document.text
    start = document.offset_at(range_.start)
    end = document.offset_at(range_.end)
    if end < start:
        start, end = end, start
    if start == end:
        lines = text.split("\n")
        cursor_line = text.count("\n", 0, start)
        first, last = enclosing_block(lines, cursor_line)
        start = document.line_start(first)
        end = document.line_start(last) if last < len(lines) else len(text)
        if end < start:
            end = len(text)
    line_start = text.rfind("\n", 0, start) + 1
    return Selection(
        start=start,
        end=end,
        range=types.Range(start=document.position_at(start), end=document.position_at(end)),
        text=text[start:end],
        line_prefix=text[line_start:start],
    )
