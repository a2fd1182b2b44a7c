"""Turn a code block into minimal, reviewable line edits of a document.

Pure text in, plain line numbers out: no LSP types here, so every rule is unit-testable.
Lines are split on the LSP line terminators only (``\\r\\n``, ``\\n``, ``\\r``) and keep
their terminator, so applying the edits reproduces the exact target text: CRLF files
stay CRLF and a file without a final newline keeps it that way.

Line ranges are 0-based and end-exclusive: ``(start, end)`` covers lines
``start .. end - 1``.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .blocks import block_end, is_closer
from .lines import detect_eol, indent_width, normalize_eol, split_lines

# Guard thresholds: refuse a result that deletes more than this many lines the code
# block never mentioned, or this share of the file's non-blank lines (the share only
# counts from GUARD_MIN_LINES on, so shrinking a small function stays possible).
GUARD_MAX_LINES = 20
GUARD_MAX_SHARE = 0.30
GUARD_MIN_LINES = 8

# A fragment "is the whole file" when it is this similar and this large relative to it.
_WHOLE_FILE_SIMILARITY = 0.8
_WHOLE_FILE_SIZE_SHARE = 0.8


def _key(line: str) -> str:
    """Whitespace-insensitive identity of a line, for anchoring and mention checks."""
    return "".join(line.split())


@dataclass(frozen=True)
class LineEdit:
    """Replace whole lines ``[start_line, end_line)`` with ``new_text``.

    ``start_line == end_line`` is a pure insertion before ``start_line``; ``new_text == ""``
    is a pure deletion. ``end_line`` may equal the number of lines: the edit then runs to
    the end of the document (see :func:`line_edit_offsets`).
    """

    start_line: int
    end_line: int
    new_text: str


def minimal_edits(old: str, new: str) -> list[LineEdit]:
    """The fewest whole-line edits that turn ``old`` into exactly ``new``.

    Unchanged lines at both ends are skipped before diffing, so a local change to a
    large file costs little; adjacent delete+insert hunks are one edit.
    Edits are in document order and do not overlap; apply them all against ``old``.
    """
    if old == new:
        return []
    old_lines = split_lines(old)
    new_lines = split_lines(new)
    matches: list[tuple[int, int]] = []
    _match_lines(old_lines, new_lines, 0, len(old_lines), 0, len(new_lines), matches)
    matches.append((len(old_lines), len(new_lines)))  # sentinel: flushes the last gap
    edits: list[LineEdit] = []
    old_next = new_next = 0
    for old_index, new_index in matches:
        if old_index > old_next or new_index > new_next:
            edits.append(LineEdit(old_next, old_index, "".join(new_lines[new_next:new_index])))
        old_next, new_next = old_index + 1, new_index + 1
    return edits


# Segments up to this many line pairs go straight to difflib; larger ones are first cut
# at lines unique to both sides (patience diff), which keeps 10k-line files fast even
# with thousands of identical blank or "}" lines that make difflib quadratic.
_DIRECT_DIFF_LIMIT = 200_000


def _match_lines(
    a: Sequence[str],
    b: Sequence[str],
    a0: int,
    a1: int,
    b0: int,
    b1: int,
    out: list[tuple[int, int]],
) -> None:
    """Append matching line pairs of ``a[a0:a1]`` and ``b[b0:b1]`` to ``out``, in order."""
    while a0 < a1 and b0 < b1 and a[a0] == b[b0]:
        out.append((a0, b0))
        a0, b0 = a0 + 1, b0 + 1
    tail: list[tuple[int, int]] = []
    while a0 < a1 and b0 < b1 and a[a1 - 1] == b[b1 - 1]:
        a1, b1 = a1 - 1, b1 - 1
        tail.append((a1, b1))
    if a0 < a1 and b0 < b1:
        if (a1 - a0) * (b1 - b0) <= _DIRECT_DIFF_LIMIT:
            _difflib_matches(a[a0:a1], b[b0:b1], (a0, b0), out)
        else:
            anchors = _unique_anchors(a, b, a0, a1, b0, b1)
            if anchors:
                prev_a, prev_b = a0, b0
                for ia, ib in anchors:
                    _match_lines(a, b, prev_a, ia, prev_b, ib, out)
                    out.append((ia, ib))
                    prev_a, prev_b = ia + 1, ib + 1
                _match_lines(a, b, prev_a, a1, prev_b, b1, out)
            else:
                # Nothing unique to cut at: difflib's junk heuristic keeps it fast;
                # the edits stay exact, only possibly less small.
                _difflib_matches(a[a0:a1], b[b0:b1], (a0, b0), out, autojunk=True)
    out.extend(reversed(tail))


def _difflib_matches(
    a_part: Sequence[str],
    b_part: Sequence[str],
    start: tuple[int, int],
    out: list[tuple[int, int]],
    *,
    autojunk: bool = False,
) -> None:
    """Append difflib's matching line pairs of two segments that begin at ``start``."""
    a0, b0 = start
    matcher = difflib.SequenceMatcher(None, a_part, b_part, autojunk=autojunk)
    for i, j, size in matcher.get_matching_blocks():
        out.extend((a0 + i + k, b0 + j + k) for k in range(size))


def _unique_anchors(
    a: Sequence[str], b: Sequence[str], a0: int, a1: int, b0: int, b1: int
) -> list[tuple[int, int]]:
    """Lines occurring exactly once on each side, longest in-order subsequence of them."""
    count_a: dict[str, int] = {}
    where_a: dict[str, int] = {}
    for i in range(a0, a1):
        count_a[a[i]] = count_a.get(a[i], 0) + 1
        where_a[a[i]] = i
    count_b: dict[str, int] = {}
    where_b: dict[str, int] = {}
    for j in range(b0, b1):
        count_b[b[j]] = count_b.get(b[j], 0) + 1
        where_b[b[j]] = j
    pairs = sorted(
        (where_a[line], where_b[line])
        for line, n in count_a.items()
        if n == 1 and count_b.get(line) == 1
    )
    return _longest_increasing(pairs)


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest subsequence of ``pairs`` (sorted by first) increasing in the second."""
    tails: list[int] = []  # tails[k]: index in pairs ending the best run of length k+1
    tail_values: list[int] = []
    previous: list[int] = [-1] * len(pairs)
    for index, (_, second) in enumerate(pairs):
        k = bisect.bisect_left(tail_values, second)
        if k > 0:
            previous[index] = tails[k - 1]
        if k == len(tails):
            tails.append(index)
            tail_values.append(second)
        else:
            tails[k] = index
            tail_values[k] = second
    run: list[tuple[int, int]] = []
    index = tails[-1] if tails else -1
    while index >= 0:
        run.append(pairs[index])
        index = previous[index]
    run.reverse()
    return run


def apply_line_edits(text: str, edits: Sequence[LineEdit]) -> str:
    """``text`` with non-overlapping ``edits`` (line numbers relative to ``text``) applied."""
    lines = split_lines(text)
    pieces: list[str] = []
    cursor = 0
    for edit in sorted(edits, key=lambda e: (e.start_line, e.end_line)):
        if edit.start_line < cursor or edit.end_line < edit.start_line:
            raise ValueError(f"overlapping or inverted edit: {edit}")
        pieces.extend(lines[cursor : edit.start_line])
        pieces.append(edit.new_text)
        cursor = edit.end_line
    pieces.extend(lines[cursor:])
    return "".join(pieces)


def line_edit_offsets(text: str, edit: LineEdit) -> tuple[int, int]:
    """String offsets (Python indices into ``text``) of the span ``edit`` replaces.

    For an LSP range, the start is ``(start_line, 0)``; the end is ``(end_line, 0)``
    unless ``end_line`` is past the last line *and* the last line has no terminator —
    then it is the end of the document, which the caller converts to a position.
    """
    lines = split_lines(text)
    start = sum(len(line) for line in lines[: edit.start_line])
    end = start + sum(len(line) for line in lines[edit.start_line : edit.end_line])
    return start, end


# ---------------------------------------------------------------------------
# Elision placeholders ("... existing code ...")

_COMMENT_START = r"(?:#+|//+|/\*+|\{/\*|<!--|--|;+|%+|\*|'|rem\b|REM\b)"
_ELLIPSIS = r"(?:\.{3,}|…)"
_CODE_NOUN = (
    r"(?:code|file|function|functions|class|classes|method|methods|implementation|logic|"
    r"body|lines|imports|content|contents|component|module|properties|fields|tests|cases)"
)
_ELISION_WORDS = (
    rf"(?:\b(?:existing|remaining|unchanged|previous|original|other|same|more|"
    rf"rest\s+of(?:\s+the)?)\s+{_CODE_NOUN}\b|"
    rf"\b{_CODE_NOUN}\s+(?:remains?\s+|stays?\s+|is\s+|are\s+)?"
    rf"(?:unchanged|omitted|as\s+before|the\s+same)\b)"
)


@functools.cache
def _elision_patterns() -> tuple[re.Pattern[str], ...]:
    # Compiled on first use: these case-insensitive alternations cost more to compile
    # than the rest of the module, and only applying a code block needs them.
    return (
        # "# ...", "// ... rest of the code", "/* ... */", "<!-- ... -->", "{/* ... */}"
        re.compile(rf"^\s*{_COMMENT_START}\s*{_ELLIPSIS}", re.IGNORECASE),
        # "// existing code here", "# rest of the file unchanged"
        re.compile(rf"^\s*{_COMMENT_START}.*{_ELISION_WORDS}", re.IGNORECASE),
        # "# (unchanged)", "// same as before"
        re.compile(
            rf"^\s*{_COMMENT_START}\W*(?:unchanged|omitted|same as before|as before)\W*$",
            re.IGNORECASE,
        ),
        # "[...]", "[…]"
        re.compile(rf"^\s*\[\s*{_ELLIPSIS}\s*\]\s*$"),
        # "... existing code ..." without a comment marker
        re.compile(rf"^\s*{_ELLIPSIS}\s*{_ELISION_WORDS}", re.IGNORECASE),
    )


_BARE_ELLIPSIS = re.compile(rf"^\s*{_ELLIPSIS}\s*$")
# A bare "..." line is valid code in these languages (Python's Ellipsis body).
_ELLIPSIS_IS_CODE = frozenset({"python", "py", "pyi", "cython"})


def elision_lines(
    fragment: str, *, document: str | None = None, language: str | None = None
) -> list[int]:
    """Indexes of the fragment's placeholder lines, ignoring lines the document also has."""
    existing = {_key(line) for line in split_lines(document)} if document else set()
    bare_is_code = (language or "").lower() in _ELLIPSIS_IS_CODE
    found: list[int] = []
    for index, line in enumerate(split_lines(fragment)):
        stripped = line.rstrip("\r\n")
        is_placeholder = any(p.search(stripped) for p in _elision_patterns()) or (
            not bare_is_code and _BARE_ELLIPSIS.match(stripped) is not None
        )
        if is_placeholder and _key(stripped) not in existing:
            found.append(index)
    return found


def has_elisions(
    fragment: str, *, document: str | None = None, language: str | None = None
) -> bool:
    """Whether the fragment stands in for code with "... existing code ..." placeholders.

    Recognised: comment lines that start with ``...``/``…`` (``# ...``, ``// ... rest of
    the code``, ``/* ... */``, ``<!-- ... -->``), comments naming existing/remaining/
    unchanged code, ``[...]`` lines, and a bare ``...`` line (except in Python, where it
    is code). A line the ``document`` already contains is not a placeholder.
    """
    return bool(elision_lines(fragment, document=document, language=language))


# ---------------------------------------------------------------------------
# Locating a fragment in a document


def _non_blank(lines: Sequence[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.strip()]


def _fragment_is_one_block(lines: Sequence[str]) -> bool:
    """Whether the fragment is a header plus deeper-indented body (plus a closer)."""
    rows = _non_blank(lines)
    if len(rows) < 2:
        return False
    header_indent = indent_width(lines[rows[0]])
    for position, row in enumerate(rows[1:], start=1):
        width = indent_width(lines[row])
        if width > header_indent:
            continue
        is_last = position == len(rows) - 1
        if not (is_last and width == header_indent and is_closer(lines[row])):
            return False
    return True


def locate_fragment(document: str, fragment: str) -> tuple[int, int] | None:
    """The line range of ``document`` that ``fragment`` replaces, or None when unclear.

    Anchors on the fragment's first and last non-blank lines (whitespace-insensitive):
    the first must occur exactly once in the document; the last is the nearest match
    after it at the same relative indentation. When the last line changed, a fragment
    that is one block (e.g. a whole function) replaces the document's block with the
    same header. Leading/trailing blank lines of the fragment do not count.
    """
    doc_lines = split_lines(document)
    frag_lines = split_lines(fragment)
    frag_rows = _non_blank(frag_lines)
    if not frag_rows or not doc_lines:
        return None
    first, last = frag_lines[frag_rows[0]], frag_lines[frag_rows[-1]]
    first_key, last_key = _key(first), _key(last)
    starts = [i for i, line in enumerate(doc_lines) if _key(line) == first_key]
    if len(starts) != 1:
        return None
    start = starts[0]
    if len(frag_rows) == 1:
        return start, start + 1
    relative = indent_width(last) - indent_width(first)
    base = indent_width(doc_lines[start])
    one_block = _fragment_is_one_block(frag_lines)
    # A block (e.g. a function) never reaches past the document's block with the same
    # header: a matching last line further down belongs to other code.
    stop = block_end(doc_lines, start) if one_block else len(doc_lines)
    for index in range(start + 1, stop):
        line = doc_lines[index]
        if _key(line) == last_key and indent_width(line) - base == relative:
            return start, index + 1
    return (start, stop) if one_block else None


# ---------------------------------------------------------------------------
# Planning an apply


ApplyKind = Literal["no_change", "whole_file", "range", "fragment", "needs_model"]


@dataclass(frozen=True)
class ApplyPlan:
    """How to apply a code block.

    - ``new_text`` is the complete new document for the deterministic kinds
      (``no_change``, ``whole_file``, ``range``, ``fragment``) and None for ``needs_model``.
    - ``region`` is the line range the block replaces (``range``/``fragment``) or the
      region the apply model should merge into (``needs_model``; None = whole file).
    - ``reason`` says in words why this plan was chosen (for logs and messages).
    """

    kind: ApplyKind
    new_text: str | None
    region: tuple[int, int] | None
    reason: str


def _conform(code: str, eol: str, want_final_newline: bool) -> str:
    """``code`` in the document's line endings, ending with a newline iff wanted.

    Only the block's own final terminator is replaced; blank lines it ends with stay.
    """
    code = normalize_eol(code, eol)
    if not code.strip("\r\n"):
        return ""
    if not want_final_newline:
        return code.rstrip("\r\n")
    return code.removesuffix(eol) + eol


def splice_lines(document: str, region: tuple[int, int] | None, code: str) -> str:
    """``document`` with lines ``region`` (None = all) replaced by ``code``.

    The code takes the document's line endings; it ends with a line terminator when
    text follows the region or the replaced text ended with one, so no line is glued
    to the next and a file without a final newline stays without one.
    """
    eol = detect_eol(document)
    lines = split_lines(document)
    start, end = region if region is not None else (0, len(lines))
    start = max(0, min(start, len(lines)))
    end = max(start, min(end, len(lines)))
    replaced = "".join(lines[start:end])
    if end < len(lines):
        want_newline = True
    elif replaced:
        want_newline = replaced.endswith(("\n", "\r"))
    else:
        # Inserting at the end: keep the document's own final-newline habit.
        want_newline = not document or document.endswith(("\n", "\r"))
    prefix = "".join(lines[:start])
    if prefix and not prefix.endswith(("\n", "\r")):
        prefix += eol
    return prefix + _conform(code, eol, want_newline) + "".join(lines[end:])


def _is_whole_file(
    doc_lines: Sequence[str], code_lines: Sequence[str], *, ends_only: bool = False
) -> bool:
    """The block is the whole file: same first and last lines, or (unless ``ends_only``)
    nearly as long as the file and very similar to it."""
    doc_rows, code_rows = _non_blank(doc_lines), _non_blank(code_lines)
    if not doc_rows:
        return True
    if len(code_rows) < 2 or len(doc_rows) < 2:
        return False
    same_ends = _key(doc_lines[doc_rows[0]]) == _key(code_lines[code_rows[0]]) and _key(
        doc_lines[doc_rows[-1]]
    ) == _key(code_lines[code_rows[-1]])
    if same_ends or ends_only:
        return same_ends
    if len(code_rows) < _WHOLE_FILE_SIZE_SHARE * len(doc_rows):
        return False
    doc_keys = [_key(doc_lines[i]) for i in doc_rows]
    code_keys = [_key(code_lines[i]) for i in code_rows]
    matcher = difflib.SequenceMatcher(None, doc_keys, code_keys, autojunk=False)
    return matcher.quick_ratio() >= _WHOLE_FILE_SIMILARITY


def plan_apply(
    document: str,
    code: str,
    range: tuple[int, int] | None = None,
    *,
    language: str | None = None,
) -> ApplyPlan:
    """Decide how ``code`` applies to ``document``; deterministic cases need no model.

    Order: placeholders ("... existing code ...") → the apply model, on ``range`` or the
    located region when there is one; the block is the whole file (same first and last
    lines, or — without ``range`` — nearly the same length and content) → replace it;
    ``range`` (0-based lines, end-exclusive) given → replace exactly those lines;
    the block's anchors locate a unique region → replace it; otherwise → the model.
    Callers diff ``new_text`` with :func:`minimal_edits` after :func:`deletion_guard`.
    """
    doc_lines = split_lines(document)
    code_lines = split_lines(code)
    if not _non_blank(code_lines):
        return ApplyPlan("no_change", document, range, "the code block is empty")

    def done(kind: ApplyKind, region: tuple[int, int] | None, reason: str) -> ApplyPlan:
        new_text = splice_lines(document, region, code)
        if new_text == document:
            return ApplyPlan("no_change", new_text, region, "the code is already there")
        return ApplyPlan(kind, new_text, region, reason)

    if has_elisions(code, document=document, language=language):
        region = range if range is not None else locate_fragment(document, code)
        where = (
            "the given range"
            if range is not None
            else ("the located region" if region is not None else "the whole file")
        )
        return ApplyPlan(
            "needs_model", None, region, f"the block elides existing code; merging into {where}"
        )
    # With an explicit range only a block that spans the file from its first to its last
    # line counts as the whole file; similarity alone could swallow lines around the range.
    if _is_whole_file(doc_lines, code_lines, ends_only=range is not None):
        return done("whole_file", None, "the block is the whole file")
    if range is not None:
        return done("range", range, "the block replaces the given range")
    located = locate_fragment(document, code)
    if located is not None:
        return done("fragment", located, "the block replaces a matching region")
    return ApplyPlan("needs_model", None, None, "no unique place for the block in the file")


def finish_model_apply(document: str, merged: str, region: tuple[int, int] | None) -> str:
    """The new document after the apply model returned ``merged`` for ``region``."""
    return splice_lines(document, region, merged)


# ---------------------------------------------------------------------------
# Guard against destructive results


def deletion_guard(
    old: str,
    new: str,
    fragment: str,
    *,
    replaced: tuple[int, int] | None = None,
) -> str | None:
    """Why applying ``new`` over ``old`` should be refused, or None when it is fine.

    Counts the non-blank ``old`` lines that disappear, that the ``fragment`` does not
    mention (whitespace-insensitive), and that lie outside ``replaced`` (a line range
    the fragment deliberately replaced, e.g. a located function). Net of the lines
    inserted in their place, so rewriting code shorter is not mistaken for deletion.
    Refuses above GUARD_MAX_LINES lines, or GUARD_MAX_SHARE of the file's non-blank
    lines once at least GUARD_MIN_LINES are involved.
    """
    if old == new:
        return None
    mentioned = {_key(line) for line in split_lines(fragment)}
    old_lines = split_lines(old)
    total = len(_non_blank(old_lines))
    if total == 0:
        return None
    lost = 0
    for edit in minimal_edits(old, new):
        vanished = 0
        for index in range(edit.start_line, edit.end_line):
            if replaced is not None and replaced[0] <= index < replaced[1]:
                continue
            line = old_lines[index]
            if line.strip() and _key(line) not in mentioned:
                vanished += 1
        inserted = len(_non_blank(split_lines(edit.new_text)))
        lost += max(0, vanished - inserted)
    share = lost / total
    if lost > GUARD_MAX_LINES or (lost >= GUARD_MIN_LINES and share > GUARD_MAX_SHARE):
        return (
            f"refusing to apply: it would delete {lost} of {total} lines "
            f"({share:.0%}) that the code block does not contain"
        )
    return None
