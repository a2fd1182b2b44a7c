"""Words and chunks: how code is cut for retrieval and compared.

Identifiers are split into their parts (``getUserName`` → ``get``, ``user``, ``name``;
``MAX_LINE_LEN`` → ``max``, ``line``, ``len``) and kept whole as well, lower-cased, so a
question in prose ("where is the user name read?") meets the code that does it. Language
keywords carry no meaning for retrieval and are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+")

_KEYWORD_LINES = (
    "and as assert async await break case catch class const continue def default del do",
    "elif else enum except export extends false final finally fn for from func function go",
    "if impl import in interface is let match mod mut new nil none not null of or package",
    "pass pub raise return self static struct super switch this throw throws true try type",
    "typeof use var void while with yield the an to it be on at by are was that int str",
    "bool float string char long short unsigned public private protected end begin then",
    "lambda global nonlocal val where when",
)
KEYWORDS = frozenset(word for line in _KEYWORD_LINES for word in line.split())


def identifiers(text: str) -> list[str]:
    """Identifiers in ``text``, in order (keywords included)."""
    return _IDENTIFIER.findall(text)


def terms(text: str) -> list[str]:
    """Retrieval terms of ``text``: identifiers lower-cased, whole and split into parts,
    minus keywords and one-letter words."""
    out: list[str] = []
    for word in _IDENTIFIER.findall(text):
        lowered = word.lower()
        if lowered in KEYWORDS:
            continue
        if len(lowered) > 1:
            out.append(lowered)
        stripped = word.strip("_")
        if "_" in stripped or not (stripped.islower() or stripped.isupper()):
            for part in _split_identifier(stripped):
                if len(part) > 1 and part != lowered and part not in KEYWORDS:
                    out.append(part)
    return out


def _split_identifier(word: str) -> list[str]:
    parts: list[str] = []
    for piece in word.split("_"):
        if piece:
            parts.extend(p.lower() for p in _CAMEL_PART.findall(piece))
    return parts


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines ``start_line`` to ``end_line`` (0-based, end exclusive) of a file."""

    start_line: int
    end_line: int
    text: str


# A line that opens a definition at the file's top level: a good place to cut.
_TOP_LEVEL_START = re.compile(
    r"^(?:(?:export\s+|pub(?:\([^)]*\))?\s+|async\s+|default\s+|public\s+|static\s+)*"
    r"(?:def|class|function|func|fn|impl|struct|enum|trait|interface|type|const|let|var|"
    r"module|namespace|@\w+))\b"
)
CHUNK_TARGET_LINES = 24
CHUNK_MAX_LINES = 60
CHUNK_MAX_CHARS = 4000


def chunk_lines(text: str) -> list[Chunk]:
    """Cut a file into chunks of at least ``CHUNK_TARGET_LINES`` lines, preferably just
    before a top-level definition or after a blank line, never longer than
    ``CHUNK_MAX_LINES`` lines or ``CHUNK_MAX_CHARS`` characters."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    chunks: list[Chunk] = []
    start = 0
    size = 0
    for index, line in enumerate(lines):
        at_boundary = index > start and (
            _TOP_LEVEL_START.match(line) is not None or not lines[index - 1].strip()
        )
        length = index - start
        if length and (
            (length >= CHUNK_TARGET_LINES and at_boundary)
            or length >= CHUNK_MAX_LINES
            or size + len(line) > CHUNK_MAX_CHARS
        ):
            chunks.append(Chunk(start, index, "\n".join(lines[start:index])))
            start, size = index, 0
        size += len(line) + 1
    if start < len(lines):
        chunks.append(Chunk(start, len(lines), "\n".join(lines[start:])))
    return [c for c in chunks if c.text.strip()]
