"""Cheap cross-file context for autocomplete: no model, no index, well under a millisecond
on a warm cache.

Three sources, best first:
- **definitions** of the identifiers used near the cursor, looked up in the files the
  current file imports and in the other open documents (a name right before the cursor
  ranks higher than one fifteen lines up; an imported file beats an open tab);
- **recent edits**: the lines around the user's last edits in other places;
- **similar code** in other open tabs: the window whose identifiers overlap most with
  the lines before the cursor (Jaccard), as Copilot's "neighbouring tabs" does.

Everything read is cached: an imported file by (mtime, size), an open document by its
version, the current file's imports by a hash of its head. Per keystroke the work is
bounded by the lines near the cursor and the number of open documents, never by the
size of a file.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..documents import Document
from ..prompting.lines import window_start
from .paths import display_path, uri_to_path
from .snippets import Selection, Snippet, select
from .symbols import IMPORT_SCAN_CHARS, Definition, definitions, imports, resolve_import
from .text import KEYWORDS, identifiers

NEAR_LINES_BEFORE = 15
NEAR_LINES_AFTER = 5
MAX_NAMES = 24
MAX_OPEN_DOCUMENTS = 12
MAX_DOCUMENT_CHARS = 200_000  # open tabs larger than this are not scanned for context
SIMILAR_WINDOW_LINES = 20
SIMILAR_MIN_SCORE = 0.25
RECENT_EDITS = 8
RECENT_EDIT_RADIUS = 4
_FILE_CACHE_SIZE = 256


@dataclass
class _FileInfo:
    stamp: tuple[int, int]
    text: str
    definitions: dict[str, list[Definition]]
    uri: str


@dataclass
class _ImportInfo:
    head_hash: bytes
    files: list[Path]
    aliases: dict[str, str]  # local alias -> name in the imported module


@dataclass
class _Windows:
    version: int | None
    windows: list[tuple[int, frozenset[str]]]  # (start line, identifier set)


@dataclass
class CrossFileResult:
    selection: Selection
    candidates: int
    reason: str | None  # why there is nothing, for the inspector

    @property
    def snippets(self) -> list[Snippet]:
        return self.selection.snippets


@dataclass
class RecentEdits:
    """The last places the user edited, newest first (one entry per nearby place)."""

    limit: int = RECENT_EDITS
    entries: list[tuple[str, int]] = field(default_factory=list)

    def record(self, uri: str, line: int) -> None:
        self.entries = [
            (u, n)
            for u, n in self.entries
            if not (u == uri and abs(n - line) <= 2 * RECENT_EDIT_RADIUS)
        ]
        self.entries.insert(0, (uri, line))
        del self.entries[self.limit :]

    def forget(self, uri: str) -> None:
        self.entries = [(u, n) for u, n in self.entries if u != uri]


class CrossFileContext:
    def __init__(
        self,
        documents: Callable[[], Iterable[Document]],
        root: Callable[[], Path | None] = lambda: None,
    ) -> None:
        self._documents = documents
        self._root = root
        self.recent = RecentEdits()
        self._files: OrderedDict[Path, _FileInfo] = OrderedDict()
        self._doc_definitions: dict[str, tuple[int | None, dict[str, list[Definition]]]] = {}
        self._imports: dict[str, _ImportInfo] = {}
        self._windows: dict[str, _Windows] = {}
        self._shown: dict[tuple[str, Path | None], str] = {}

    def shown_path(self, uri: str, root: Path | None) -> str:
        """The path a snippet of ``uri`` is shown under (cached: pathlib is slow)."""
        key = (uri, root)
        shown = self._shown.get(key)
        if shown is None:
            path = uri_to_path(uri)
            shown = display_path(path, root) if path is not None else uri
            if len(self._shown) > 4096:
                self._shown.clear()
            self._shown[key] = shown
        return shown

    def forget(self, uri: str) -> None:
        self._doc_definitions.pop(uri, None)
        self._imports.pop(uri, None)
        self._windows.pop(uri, None)
        self.recent.forget(uri)

    def gather(
        self,
        document: Document,
        offset: int,
        budget_tokens: int,
        *,
        visible: tuple[int, int] | None = None,
    ) -> CrossFileResult:
        """Snippets for a completion at ``offset`` of ``document``, within
        ``budget_tokens``. ``visible`` is the (start, end) offsets of the document that
        the prompt already holds: nothing from there is repeated."""
        if budget_tokens <= 0:
            return CrossFileResult(Selection([], 0), 0, "no room in the prompt budget")
        root = self._root()
        language = document.language_id or None
        names = self._names_near(document, offset)
        info = self._import_info(document, root, language)
        candidates: list[Snippet] = []
        found: set[str] = set()
        others = [
            d
            for d in self._documents()
            if d.uri != document.uri and len(d.text) <= MAX_DOCUMENT_CHARS
        ][:MAX_OPEN_DOCUMENTS]
        sources = self._definition_sources(info.files, others, root, language)
        for rank, name in enumerate(names):
            lookup = info.aliases.get(name, name)
            for uri, shown, table, weight in sources:
                for definition in table.get(lookup, ())[:1]:
                    key = f"{uri}#{definition.line}"
                    if key in found:
                        continue
                    found.add(key)
                    lines = definition.snippet.count("\n") + 1
                    candidates.append(
                        Snippet(
                            "definition",
                            shown,
                            uri,
                            definition.line,
                            definition.line + lines,
                            definition.snippet,
                            weight * (1.0 - rank / (2 * MAX_NAMES)),
                            symbol=lookup,
                        )
                    )
        candidates += self._recent_edit_snippets(document, visible, root)
        candidates += self._similar_snippets(document, offset, others, root)
        selection = select(candidates, budget_tokens)
        reason = None
        if not selection.snippets:
            reason = _why_nothing(bool(candidates), bool(names), len(info.files), len(others))
        return CrossFileResult(selection, len(candidates), reason)

    def _definition_sources(
        self, files: Iterable[Path], others: list[Document], root: Path | None, language: str | None
    ) -> list[tuple[str, str, dict[str, list[Definition]], float]]:
        """Where definitions are looked up, each (uri, shown path, definitions by name,
        weight): the imported files first, then the other open documents, weighted lower."""
        sources: list[tuple[str, str, dict[str, list[Definition]], float]] = []
        for path in files:
            file_info = self._file(path, language)
            if file_info is not None:
                shown = self.shown_path(file_info.uri, root)
                sources.append((file_info.uri, shown, file_info.definitions, 1.0))
        open_paths = {s[0] for s in sources}
        for other in others:
            if other.uri in open_paths:
                continue
            shown = self.shown_path(other.uri, root)
            sources.append((other.uri, shown, self._document_definitions(other), 0.7))
        return sources

    # ----- names near the cursor --------------------------------------------------------

    def _names_near(self, document: Document, offset: int) -> list[str]:
        text = document.text
        start = window_start(text, offset, NEAR_LINES_BEFORE)
        end = offset
        for _ in range(NEAR_LINES_AFTER):
            found = text.find("\n", end + 1)
            if found < 0:
                end = len(text)
                break
            end = found
        before = identifiers(text[start:offset])
        after = identifiers(text[offset:end])
        ordered: list[str] = []
        seen: set[str] = set()
        # Nearest first: the words just before the cursor, then those after it.
        for name in [*reversed(before), *after]:
            if name in seen or len(name) < 2 or name.lower() in KEYWORDS:
                continue
            seen.add(name)
            ordered.append(name)
            if len(ordered) >= MAX_NAMES:
                break
        return ordered

    # ----- sources ----------------------------------------------------------------------

    def _import_info(
        self, document: Document, root: Path | None, language: str | None
    ) -> _ImportInfo:
        head = document.text[:IMPORT_SCAN_CHARS]
        digest = hashlib.blake2b(head.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        cached = self._imports.get(document.uri)
        if cached is not None and cached.head_hash == digest:
            return cached
        files: list[Path] = []
        aliases: dict[str, str] = {}
        path = uri_to_path(document.uri)
        if path is not None:
            for item in imports(head, language):
                for resolved in resolve_import(item, path, root, language):
                    if resolved not in files:
                        files.append(resolved)
                for name, alias in item.names:
                    if alias != name:
                        aliases[alias] = name.split(".")[-1]
        info = _ImportInfo(digest, files[:MAX_OPEN_DOCUMENTS], aliases)
        self._imports[document.uri] = info
        return info

    def _file(self, path: Path, language: str | None) -> _FileInfo | None:
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._files.get(path)
        if cached is not None and cached.stamp == stamp:
            self._files.move_to_end(path)
            return cached
        if stat.st_size > MAX_DOCUMENT_CHARS * 4:
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        from ..documents import language_for_path

        table = _table(definitions(text, language_for_path(path) or language))
        info = _FileInfo(stamp, text, table, path.as_uri())
        self._files[path] = info
        while len(self._files) > _FILE_CACHE_SIZE:
            self._files.popitem(last=False)
        return info

    def _document_definitions(self, document: Document) -> dict[str, list[Definition]]:
        cached = self._doc_definitions.get(document.uri)
        if cached is not None and cached[0] == document.version and document.version is not None:
            return cached[1]
        table = _table(definitions(document.text, document.language_id or None))
        self._doc_definitions[document.uri] = (document.version, table)
        return table

    def _recent_edit_snippets(
        self, document: Document, visible: tuple[int, int] | None, root: Path | None
    ) -> list[Snippet]:
        out: list[Snippet] = []
        by_uri = {d.uri: d for d in self._documents()}
        by_uri[document.uri] = document
        for rank, (uri, line) in enumerate(self.recent.entries):
            source = by_uri.get(uri)
            if source is None:
                continue
            start = max(0, line - RECENT_EDIT_RADIUS)
            start_offset = source.line_start(start)
            end_offset = start_offset
            end = start
            for _ in range(2 * RECENT_EDIT_RADIUS + 1):
                nxt = source.text.find("\n", end_offset)
                if nxt < 0:
                    end_offset = len(source.text)
                    end += 1
                    break
                end_offset = nxt + 1
                end += 1
            in_prompt = (
                uri == document.uri
                and visible is not None
                and start_offset < visible[1]
                and end_offset > visible[0]
            )
            if in_prompt:
                continue
            text = source.text[start_offset:end_offset].rstrip("\n")
            if not text.strip():
                continue
            shown = self.shown_path(uri, root)
            out.append(Snippet("recent-edit", shown, uri, start, end, text, 0.5 - rank * 0.03))
        return out

    def _similar_snippets(
        self, document: Document, offset: int, others: list[Document], root: Path | None
    ) -> list[Snippet]:
        text = document.text
        start = window_start(text, offset, SIMILAR_WINDOW_LINES)
        query = frozenset(w for w in identifiers(text[start:offset]) if w.lower() not in KEYWORDS)
        if len(query) < 3:
            return []
        best: list[Snippet] = []
        for other in others:
            windows = self._document_windows(other)
            top = _most_similar_window(query, windows)
            if top is None or top[0] < SIMILAR_MIN_SCORE:
                continue
            score, line = top
            begin = other.line_start(line)
            end_offset, end_line = _window_end(other.text, begin, line)
            shown = self.shown_path(other.uri, root)
            best.append(
                Snippet(
                    "similar",
                    shown,
                    other.uri,
                    line,
                    end_line,
                    other.text[begin:end_offset].rstrip("\n"),
                    0.4 * score,
                )
            )
        return best

    def _document_windows(self, document: Document) -> list[tuple[int, frozenset[str]]]:
        cached = self._windows.get(document.uri)
        if (
            cached is not None
            and cached.version == document.version
            and document.version is not None
        ):
            return cached.windows
        lines = document.text.split("\n")
        step = SIMILAR_WINDOW_LINES // 2
        windows = [
            (
                start,
                frozenset(
                    w
                    for w in identifiers("\n".join(lines[start : start + SIMILAR_WINDOW_LINES]))
                    if w.lower() not in KEYWORDS
                ),
            )
            for start in range(0, max(len(lines) - step, 1), step)
        ]
        self._windows[document.uri] = _Windows(document.version, windows)
        return windows


def _table(found: list[Definition]) -> dict[str, list[Definition]]:
    table: dict[str, list[Definition]] = {}
    for definition in found:
        table.setdefault(definition.name, []).append(definition)
    return table


def context_for_file(
    path: Path,
    text: str,
    offset: int,
    *,
    root: Path | None,
    budget_tokens: int,
    language: str | None = None,
    open_documents: Iterable[Document] = (),
) -> list[tuple[str, str]]:
    """The cross-file snippets for a completion at ``offset`` of a file on disk, as
    ``(path, text)`` pairs for ``build_autocomplete_prompt(context=...)``: the same
    selection the server makes, for tools such as the quality benchmark (FIM+context)."""
    from ..documents import language_for_path

    document = Document(path.resolve().as_uri(), text, 0, language or language_for_path(path) or "")
    others = list(open_documents)
    context = CrossFileContext(lambda: [document, *others], lambda: root)
    result = context.gather(document, offset, budget_tokens)
    return [(snippet.path, snippet.text) for snippet in result.snippets]


def _why_nothing(had_candidates: bool, had_names: bool, files: int, others: int) -> str:
    """Why no snippet was chosen, for the context inspector."""
    if had_candidates:
        return "budget full: no snippet fits the room left in the prompt"
    if not had_names:
        return "nothing relevant: no identifiers near the cursor"
    return (
        "nothing relevant: no definition of the names near the cursor in the "
        f"{files} imported file(s) or {others} other open document(s)"
    )


def _most_similar_window(
    query: frozenset[str], windows: Iterable[tuple[int, frozenset[str]]]
) -> tuple[float, int] | None:
    """The (Jaccard score, line) of the window sharing the most words with ``query``; the
    first one wins a tie. None when no window shares a word."""
    top: tuple[float, int] | None = None
    size = len(query)
    for line, words in windows:
        common = len(query & words)
        if not common:
            continue
        score = common / (size + len(words) - common)
        if top is None or score > top[0]:
            top = (score, line)
    return top


def _window_end(text: str, begin: int, line: int) -> tuple[int, int]:
    """The end offset and end line of the window of ``SIMILAR_WINDOW_LINES`` lines that
    starts at offset ``begin`` (line ``line``); shorter at the end of the text."""
    end_offset = begin
    end_line = line
    for _ in range(SIMILAR_WINDOW_LINES):
        nxt = text.find("\n", end_offset)
        if nxt < 0:
            return len(text), end_line + 1
        end_offset = nxt + 1
        end_line += 1
    return end_offset, end_line
