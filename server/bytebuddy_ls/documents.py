"""Open documents, kept in sync with incremental edits at a cost that does not grow
with the file per keystroke.

pygls' own ``TextDocument`` splits and re-joins every line on each change, which
costs tens of milliseconds on a 5 MB file. Here a document is one ``str`` plus an
*anchor* (a known line start near the last edit): typing moves the anchor a few
lines, so finding a position is a handful of ``str.find`` calls, and applying an
edit is one slice-and-join (a memcpy).

Lines are separated by ``\\n``; a ``\\r`` before it belongs to the line's content,
so CRLF files keep their line endings untouched. Columns are counted in the
negotiated position encoding (UTF-16 code units unless the client chose otherwise).
Out-of-range positions are clamped, as the LSP spec asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from lsprotocol import types

# Past this many lines from the anchor, jump with str.count over chunks instead of
# walking line by line.
_WALK_LIMIT = 256


def _units(text: str, encoding: str) -> int:
    """Length of ``text`` in the client's position units."""
    if encoding == types.PositionEncodingKind.Utf32 or text.isascii():
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _index_of_units(line: str, units: int, encoding: str) -> int:
    """Code-point index in ``line`` for a column in client units (clamped; a column
    inside a surrogate pair or a UTF-8 sequence lands after the character)."""
    if units <= 0:
        return 0
    if encoding == types.PositionEncodingKind.Utf32 or line.isascii():
        return min(units, len(line))
    if encoding == types.PositionEncodingKind.Utf8:
        count = 0
        for index, ch in enumerate(line):
            if count >= units:
                return index
            count += len(ch.encode("utf-8"))
        return len(line)
    count = 0
    for index, ch in enumerate(line):
        if count >= units:
            return index
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


# LSP language ids by file extension, for documents that don't come from an editor
# (the CLI). Editors send their own language id.
_LANGUAGE_BY_SUFFIX = {
    ".py": "python",
    ".pyi": "python",
    ".cjs": "javascript",
    ".js": "javascript",
    ".mjs": "javascript",
    ".ts": "typescript",
    ".tsx": "typescriptreact",
    ".jsx": "javascriptreact",
    ".rs": "rust",
    ".go": "go",
    ".java": "java",
    ".kt": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cc": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".lua": "lua",
    ".sh": "shellscript",
    ".bash": "shellscript",
    ".md": "markdown",
    ".html": "html",
    ".css": "css",
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".sql": "sql",
    ".r": "r",
    ".scala": "scala",
    ".hs": "haskell",
    ".ex": "elixir",
    ".exs": "elixir",
    ".zig": "zig",
    ".dart": "dart",
    ".vue": "vue",
}


def language_for_path(path: PurePath) -> str | None:
    return _LANGUAGE_BY_SUFFIX.get(path.suffix.lower())


@dataclass
class Document:
    uri: str
    text: str
    version: int | None = None
    language_id: str = ""
    encoding: str = types.PositionEncodingKind.Utf16
    _anchor_line: int = 0
    _anchor_offset: int = 0

    # --- lines --------------------------------------------------------------------
    def _seek(self, line: int) -> tuple[int, int]:
        """(line reached, its start offset) for ``line``, moving the anchor there.

        The reached line is smaller than asked when the document has fewer lines."""
        text = self.text
        line = max(line, 0)
        cur_line, cur = self._anchor_line, self._anchor_offset
        if line < cur_line and (cur_line - line > _WALK_LIMIT and line < cur_line // 2):
            cur_line, cur = 0, 0  # nearer the start than the anchor
        while cur_line > line:
            cur = text.rfind("\n", 0, cur - 1) + 1
            cur_line -= 1
        if line - cur_line > _WALK_LIMIT:
            cur_line, cur = self._jump_forward(cur_line, cur, line)
        while cur_line < line:
            nxt = text.find("\n", cur)
            if nxt < 0:
                break
            cur, cur_line = nxt + 1, cur_line + 1
        self._anchor_line, self._anchor_offset = cur_line, cur
        return cur_line, cur

    def _jump_forward(self, cur_line: int, cur: int, line: int) -> tuple[int, int]:
        """Skip 64 KiB chunks (counted in C) while they end before ``line``; the
        returned offset is a line start."""
        text = self.text
        chunk = 1 << 16
        while cur + chunk < len(text):
            newlines = text.count("\n", cur, cur + chunk)
            if cur_line + newlines >= line:
                break
            # Advance to just after the chunk's last newline, a line start.
            last = text.rfind("\n", cur, cur + chunk)
            if last < 0:
                cur += chunk
                continue
            cur_line += newlines
            cur = last + 1
        return cur_line, cur

    def line_start(self, line: int) -> int:
        reached, start = self._seek(line)
        return start if reached == line else len(self.text)

    def line_end(self, start: int) -> int:
        """Offset of the ``\\n`` ending the line that starts at ``start`` (or the end)."""
        end = self.text.find("\n", start)
        return len(self.text) if end < 0 else end

    def line_count(self) -> int:
        return self.text.count("\n") + 1

    # --- positions ----------------------------------------------------------------
    def offset_at(self, position: types.Position) -> int:
        reached, start = self._seek(position.line)
        if reached < position.line:  # past the last line: end of document
            return len(self.text)
        end = self.line_end(start)
        line = self.text[start:end]
        if end < len(self.text) and line.endswith("\r"):
            line = line[:-1]  # a column can't land between \r and \n
        return start + _index_of_units(line, position.character, self.encoding)

    def position_at(self, offset: int) -> types.Position:
        offset = max(0, min(offset, len(self.text)))
        anchor_line, anchor = self._anchor_line, self._anchor_offset
        if offset >= anchor:
            line = anchor_line + self.text.count("\n", anchor, offset)
        else:
            line = anchor_line - self.text.count("\n", offset, anchor)
        start = self.text.rfind("\n", 0, offset) + 1
        self._anchor_line, self._anchor_offset = line, start
        return types.Position(line=line, character=_units(self.text[start:offset], self.encoding))

    def units_between(self, start: int, end: int) -> int:
        return _units(self.text[start:end], self.encoding)

    # --- edits ----------------------------------------------------------------------
    def apply_change(self, change: types.TextDocumentContentChangeEvent) -> None:
        if isinstance(change, types.TextDocumentContentChangePartial):
            first = min(change.range.start, change.range.end, key=lambda p: (p.line, p.character))
            last = max(change.range.start, change.range.end, key=lambda p: (p.line, p.character))
            start = self.offset_at(first)
            start_anchor = (self._anchor_line, self._anchor_offset)
            end = self.offset_at(last)
            self.text = self.text[:start] + change.text + self.text[end:]
            # Nothing before ``start`` moved, so its line start is still a valid anchor.
            self._anchor_line, self._anchor_offset = start_anchor
            if self._anchor_offset > len(self.text):
                self._anchor_line, self._anchor_offset = 0, 0
        else:
            self.text = change.text
            self._anchor_line, self._anchor_offset = 0, 0


class DocumentStore:
    """The server's view of open documents."""

    def __init__(self) -> None:
        self._documents: dict[str, Document] = {}
        self.encoding: str = types.PositionEncodingKind.Utf16

    def open(self, item: types.TextDocumentItem) -> Document:
        document = Document(
            item.uri, item.text, item.version, item.language_id, encoding=self.encoding
        )
        self._documents[item.uri] = document
        return document

    def change(self, params: types.DidChangeTextDocumentParams) -> Document | None:
        document = self._documents.get(params.text_document.uri)
        if document is None:
            return None  # didChange for a document never opened: nothing to update
        for change in params.content_changes:
            document.apply_change(change)
        document.version = params.text_document.version
        return document

    def close(self, uri: str) -> None:
        self._documents.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        return self._documents.get(uri)

    def all(self) -> list[Document]:
        """Open documents, most recently opened last."""
        return list(self._documents.values())

    def __len__(self) -> int:
        return len(self._documents)
