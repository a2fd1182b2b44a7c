"""Clean a raw model completion into what the editor shows (or nothing).

Pure text in, text out. ``postprocess`` applies every rule; ``StreamFilter`` applies the
early-stop rules to a stream so the caller can cancel the upstream request as soon as
the rest would be thrown away. Rules, in order:

1. Line endings: work on ``\\n``; the result uses the document's (CRLF stays CRLF).
2. Cut at the first stop sequence or special/control token (leading ones are skipped).
3. Strip markdown fences (not in Markdown documents).
4. Leading junk: blank lines and a duplicated copy of the cursor's indentation when the
   cursor sits in a line's indentation.
5. Indentation: continuation lines converted to the document's ``indent_unit``; with
   ``reindent`` (chat models), snippets written from column 0 are shifted to the
   cursor's indentation.
6. Single-line mode keeps the first line. Multi-line mode stops at a double blank line,
   at the first line that repeats (or nearly repeats) the next non-empty line below the
   cursor, at the 3rd identical line in a row, and after ``max_lines`` lines.
7. Nothing: empty or whitespace-only output, output that rewrites the line above, or
   output the suffix already starts with.
8. Text after the cursor on the same line (``line suffix``, e.g. an auto-closed ``)``)
   is never duplicated. When the completion *ends* with it, it is trimmed
   (``replace_suffix_chars == 0``; works in every client). When the completion
   re-closes it and goes on writing (``x) -> int:`` before ``):``), the text is kept
   and ``replace_suffix_chars`` says how many characters after the cursor the item's
   range must cover; those characters always appear, in order, in ``text``. Candidates
   are judged by bracket and quote balance of the resulting line, so ``foo()`` before
   an auto-closed ``)`` is left alone.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .fim import GENERIC_SPECIAL_TOKENS
from .lines import eol_near, indent_step, leading_whitespace, spaces_to_tabs, tabs_to_spaces

DEFAULT_MAX_LINES = 16

# Characters that may follow the cursor without making it "mid-line".
_CLOSING = frozenset(")]}>\"'`;,: \t")
_OPEN_TO_CLOSE = {"(": ")", "[": "]", "{": "}"}
_CLOSE_TO_OPEN = {v: k for k, v in _OPEN_TO_CLOSE.items()}
_QUOTES = frozenset("\"'`")
# Control tokens of unknown models: <|name|> and DeepSeek's <｜name｜>; never code.
_GENERIC_TOKEN = re.compile(r"<\|[A-Za-z][\w.]*\|>|<｜[^｜<>\s]{1,40}｜>")
# What a generic token looks like before its end arrived (held back while streaming).
_GENERIC_START = re.compile(r"<(?:\|(?:[A-Za-z][\w.]{0,38}\|?)?|｜[^｜<>\s]{0,40})?")
# Lines that legitimately repeat (closing blocks) are not "repetition".
_TRIVIAL_REPEAT = frozenset(
    {
        "end",
        "else",
        "fi",
        "done",
        "esac",
        "break",
        "pass",
        "continue",
        "return",
        "endif",
        "end if",
        "end;",
        "break;",
    }
)
_BLOCK_START = re.compile(r"(?:[:{(\[]|=>|->|\b(?:do|then|begin|else|in))\s*$")

_HASH = ("#",)
_SLASH = ("//",)
_COMMENT_MARKERS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (
            "python",
            "ruby",
            "shellscript",
            "sh",
            "bash",
            "zsh",
            "fish",
            "yaml",
            "toml",
            "perl",
            "r",
            "elixir",
            "makefile",
            "dockerfile",
            "powershell",
            "coffeescript",
            "julia",
            "nim",
            "crystal",
            "cmake",
            "gdscript",
        ),
        _HASH,
    ),
    **dict.fromkeys(
        (
            "c",
            "cpp",
            "csharp",
            "java",
            "javascript",
            "typescript",
            "javascriptreact",
            "typescriptreact",
            "go",
            "rust",
            "swift",
            "kotlin",
            "scala",
            "dart",
            "objective-c",
            "objective-cpp",
            "zig",
            "groovy",
            "jsonc",
            "proto",
            "solidity",
            "less",
            "scss",
            "vue",
            "svelte",
        ),
        _SLASH,
    ),
    "php": ("//", "#"),
    **dict.fromkeys(("lua", "sql", "haskell", "ada", "elm", "vhdl"), ("--",)),
    **dict.fromkeys(("lisp", "clojure", "scheme", "elisp", "racket", "asm", "ini"), (";",)),
    **dict.fromkeys(("latex", "tex", "erlang", "matlab", "bibtex"), ("%",)),
    "vim": ('"',),
}
_MARKDOWN = frozenset({"markdown", "mdx", "rmd", "quarto"})


@dataclass(frozen=True)
class Completion:
    """A cleaned suggestion.

    Insert ``text`` at the cursor, replacing the ``replace_suffix_chars`` code points that
    follow it on the cursor line (``replaced_suffix`` is that text, for converting to
    UTF-16: ``replace_suffix_utf16``).
    """

    text: str
    replace_suffix_chars: int = 0
    replaced_suffix: str = ""

    @property
    def replace_suffix_utf16(self) -> int:
        return len(self.replaced_suffix.encode("utf-16-le")) // 2


@dataclass(frozen=True)
class _Cursor:
    """What the rules need to know about the text around the cursor."""

    line_prefix: str  # the cursor line before the cursor
    line_suffix: str  # the cursor line after the cursor (no line ending)
    line_above: str  # the nearest non-blank line above the cursor line, stripped
    line_below: str  # the nearest non-blank line below the cursor line, right-stripped
    suffix: str  # the suffix with "\n" line endings
    eol: str

    @classmethod
    def of(cls, prefix: str, suffix: str) -> _Cursor:
        cut = prefix.rfind("\n")
        line_prefix = prefix[cut + 1 :]
        line_above = ""
        end = cut
        while end > 0:  # walk up over blank lines; stops at the first non-blank one
            start = prefix.rfind("\n", 0, end) + 1
            if prefix[start:end].strip():
                line_above = prefix[start:end].strip()
                break
            end = start - 1
        normalized = suffix.replace("\r\n", "\n")
        newline = normalized.find("\n")
        line_suffix = normalized if newline < 0 else normalized[:newline]
        line_below = ""
        if newline >= 0:
            for line in normalized[newline + 1 :].split("\n", 50)[:50]:
                if line.strip():
                    line_below = line.rstrip()
                    break
        return cls(
            line_prefix,
            line_suffix.rstrip("\r"),
            line_above,
            line_below,
            normalized,
            eol_near(prefix, suffix),
        )

    @property
    def cursor_indent(self) -> str:
        return self.line_prefix[: len(self.line_prefix) - len(self.line_prefix.lstrip())]

    @property
    def in_indentation(self) -> bool:
        return not self.line_prefix.strip()


def wants_multiline(prefix: str, suffix: str, language: str | None) -> bool:
    """Whether a multi-line suggestion fits here.

    Single-line mid-line (text after the cursor other than closing brackets, quotes and
    separators), in a line comment, and at the end of an ordinary line; multi-line on an
    empty line, in a line's indentation, and after a block start (``:``, ``{``, ``(``,
    ``[``, ``=>``, ``->``, ``do``, ``then``…).
    """
    cursor = _Cursor.of(prefix[-4096:], suffix[:4096])
    if any(ch not in _CLOSING for ch in cursor.line_suffix):
        return False
    if _in_line_comment(cursor.line_prefix, language):
        return False
    if cursor.in_indentation:
        return True
    return _BLOCK_START.search(cursor.line_prefix.rstrip()) is not None


def _in_line_comment(line_prefix: str, language: str | None) -> bool:
    stripped = line_prefix.lstrip()
    if stripped.startswith(("/*", "* ", "<!--")) or stripped == "*":
        return True
    markers = _COMMENT_MARKERS.get((language or "").lower())
    if markers is None:
        # Unknown language: "//" anywhere, or "#" starting the line ("#include" is not).
        markers = _SLASH
        if stripped.startswith("# ") or stripped == "#":
            return True
    quote: str | None = None
    index = 0
    while index < len(line_prefix):
        ch = line_prefix[index]
        if quote:
            if ch == "\\":
                index += 1
            elif ch == quote:
                quote = None
        elif ch in _QUOTES and markers != ('"',):
            quote = ch
        elif any(line_prefix.startswith(marker, index) for marker in markers):
            return True
        index += 1
    return False


def postprocess(
    raw: str,
    *,
    prefix: str,
    suffix: str,
    multiline: bool,
    stop: Sequence[str],
    special_tokens: Sequence[str],
    indent_unit: str | None = None,
    max_lines: int = DEFAULT_MAX_LINES,
    reindent: bool = False,
    language: str | None = None,
) -> Completion | None:
    """The suggestion to show for ``raw`` at the cursor between ``prefix`` and ``suffix``.

    Returns None when nothing should be shown. ``stop`` and ``special_tokens`` come from
    the prompt (``AutocompletePrompt.stop`` + config stops, ``special_tokens_for``).
    ``indent_unit`` is the document's indentation ("\\t" or spaces) when known;
    ``reindent`` is for chat-model answers (see the module docstring).
    """
    cursor = _Cursor.of(prefix, suffix)
    tokens = _all_tokens(stop, special_tokens)
    text = cut_at_tokens(raw.replace("\r\n", "\n").replace("\r", "\n"), tokens)
    if (language or "").lower() not in _MARKDOWN:
        text = strip_fences(text)
    text = _fix_leading(text, cursor)
    text = _fix_indentation(text, cursor, indent_unit, reindent)
    lines = text.split("\n")
    lines = lines[:1] if not multiline else _apply_line_rules(lines, cursor, max_lines)[0]
    text = "\n".join(lines).rstrip("\n")
    if not cursor.line_suffix or cursor.line_suffix[:1].isspace():
        text = text.rstrip()
    if not text.strip():
        return None
    if _rewrites_line_above(text, cursor) or _repeats_suffix(text, cursor):
        return None
    text, replaced = _resolve_line_suffix_overlap(text, cursor)
    if not text.strip():
        return None
    text = cut_at_tokens(text, tokens)  # edits above never create tokens; keep it certain
    if not text.strip():
        return None
    return Completion(text.replace("\n", cursor.eol), len(replaced), replaced)


def _all_tokens(stop: Sequence[str], special_tokens: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in (*stop, *special_tokens, *GENERIC_SPECIAL_TOKENS) if t))


def cut_at_tokens(text: str, tokens: Sequence[str]) -> str:
    """``text`` up to the first stop/control token, after skipping leading ones."""
    text = _skip_leading_tokens(text, tokens)
    return text[: _first_token(text, tokens)]


def _skip_leading_tokens(text: str, tokens: Sequence[str]) -> str:
    while True:  # an echoed sentinel at the very start is not the end of the output
        # Whitespace stops ("\n\n") are never "echoed sentinels".
        lead = next((t for t in tokens if t.strip() and text.startswith(t)), None)
        if lead is not None:
            text = text[len(lead) :]
            continue
        generic = _GENERIC_TOKEN.match(text)
        if generic is None:
            return text
        text = text[generic.end() :]


def _first_token(text: str, tokens: Sequence[str]) -> int:
    """Index of the first stop/control token in ``text``, or ``len(text)``."""
    cut = len(text)
    for token in tokens:
        if token:
            found = text.find(token, 0, cut + len(token) - 1)
            if 0 <= found < cut:
                cut = found
    generic = _GENERIC_TOKEN.search(text, 0, cut + 64)
    if generic and generic.start() < cut:
        cut = generic.start()
    return cut


_OPENING_FENCE = re.compile(r"\A[ \t]*\n?[ \t]*```[\w+#.-]*[ \t]*\n")
_CLOSING_FENCE = re.compile(r"(?:^|\n)[ \t]*```[ \t]*(?:\n|\Z)")


def strip_fences(text: str) -> str:
    """Remove a markdown code fence around (or closing after) the code."""
    opening = _OPENING_FENCE.match(text)
    if opening:
        text = text[opening.end() :]
    closing = _CLOSING_FENCE.search(text)
    if closing:
        text = text[: closing.start()]
    return text


def _fix_leading(text: str, cursor: _Cursor) -> str:
    if not cursor.in_indentation:
        return text
    # The cursor line is empty: code starts here, not after blank lines.
    while True:
        newline = text.find("\n")
        if newline < 0 or text[:newline].strip():
            break
        text = text[newline + 1 :]
    indent = cursor.line_prefix
    if indent and text.startswith(indent):
        text = text[len(indent) :]
    return text


def _fix_indentation(text: str, cursor: _Cursor, indent_unit: str | None, reindent: bool) -> str:
    if "\n" not in text:
        return text
    first, *rest = text.split("\n")
    if reindent and cursor.cursor_indent:
        widths = [len(leading_whitespace(line)) for line in rest if line.strip()]
        if widths and min(widths) == 0:
            rest = [cursor.cursor_indent + line if line.strip() else line for line in rest]
    if indent_unit == "\t":
        step = indent_step(line for line in rest if line.startswith(" "))
        rest = [spaces_to_tabs(line, step) for line in rest]
    elif indent_unit and not indent_unit.strip(" "):
        rest = [tabs_to_spaces(line, indent_unit) for line in rest]
    return "\n".join([first, *rest])


_WORD = re.compile(r"\w+")


def _same_as_line_below(line: str, below: str) -> bool:
    if not below.strip() or not line.strip():
        return False
    if line.rstrip() == below:
        return True
    a, b = line.strip(), below.strip()
    if len(b) < 10:
        return False
    # Near-identical lines (edit distance under ~10 %) count as repeats too, unless a
    # word or number differs: rows of a table or a sequence (``0x0050: …  # P`` above
    # ``0x0051: …  # Q``) are new lines, not a repetition.
    if _WORD.findall(a) != _WORD.findall(b):
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.9


def _substantial(line: str) -> bool:
    stripped = line.strip()
    return (
        len(stripped) >= 4
        and any(ch.isalnum() for ch in stripped)
        and stripped.lower() not in _TRIVIAL_REPEAT
    )


def _apply_line_rules(lines: list[str], cursor: _Cursor, max_lines: int) -> tuple[list[str], bool]:
    """The lines to keep in multi-line mode, and whether a rule stopped the output."""
    kept: list[str] = []
    blank_run = 0
    for index, line in enumerate(lines):
        if index >= max_lines:
            return kept, True
        if not line.strip():
            blank_run += 1
            if blank_run >= 2:
                return kept, True
            kept.append(line)
            continue
        blank_run = 0
        full_line = cursor.line_prefix + line if index == 0 else line
        if _same_as_line_below(full_line, cursor.line_below):
            return kept, True
        if (
            len(kept) >= 2
            and _substantial(line)
            and line.strip() == kept[-1].strip() == kept[-2].strip()
        ):
            kept.pop()  # keep a single copy of the repeated line
            return kept, True
        kept.append(line)
    return kept, False


def _rewrites_line_above(text: str, cursor: _Cursor) -> bool:
    first = text.split("\n", 1)[0]
    full = (cursor.line_prefix + first).strip()
    return bool(full) and full == cursor.line_above and _substantial(full)


def _repeats_suffix(text: str, cursor: _Cursor) -> bool:
    stripped = text.strip()
    return bool(stripped) and cursor.suffix.lstrip().startswith(stripped)


def _structure_errors(text: str) -> int:
    """Unmatched brackets plus unterminated quotes (per line) in ``text``."""
    errors = 0
    stack: list[str] = []
    quote: str | None = None
    escaped = False
    for ch in text:
        if quote:
            quote, escaped, broken = _inside_quote(ch, quote, escaped)
            errors += broken
        elif ch in _OPEN_TO_CLOSE:
            stack.append(ch)
        elif ch in _CLOSE_TO_OPEN:
            if stack and stack[-1] == _CLOSE_TO_OPEN[ch]:
                stack.pop()
            else:
                errors += 1
        elif ch in _QUOTES:
            quote = ch
    return errors + len(stack) + (1 if quote else 0)


def _inside_quote(ch: str, quote: str, escaped: bool) -> tuple[str | None, bool, int]:
    """One character of a quoted string: (quote still open, next is escaped, errors)."""
    if escaped:
        return quote, False, 0
    if ch == "\\":
        return quote, True, 0
    if ch == quote:
        return None, False, 0
    if ch == "\n":  # a string literal does not span lines
        return None, False, 1
    return quote, False, 0


def _is_subsequence(needle: str, haystack: str) -> bool:
    position = 0
    for ch in needle:
        position = haystack.find(ch, position) + 1
        if position == 0:
            return False
    return True


def _resolve_line_suffix_overlap(text: str, cursor: _Cursor) -> tuple[str, str]:
    """(text to insert, line-suffix text it replaces): see rule 8 of the module docstring."""
    wanted = cursor.line_suffix.strip()[:64]
    if not wanted:
        return text, ""
    overlap = _SuffixOverlap(text, cursor, wanted)
    whole = overlap.trim_whole()
    if whole is not None:
        return whole, ""
    candidates = [*overlap.partial_trims(), *overlap.reclosings()]
    if not candidates:
        return text, ""
    _score, kept, replaced = min(candidates, key=lambda candidate: candidate[0])
    return kept, replaced


class _SuffixOverlap:
    """Ways a completion can meet the text after the cursor on its line, each scored by
    the bracket/quote errors the line would have (fewer than as is, or not kept)."""

    def __init__(self, text: str, cursor: _Cursor, wanted: str) -> None:
        line_suffix = cursor.line_suffix
        self.text = text
        self.body = text.rstrip(" \t")
        self.wanted = wanted
        self.lead_space = line_suffix[: len(line_suffix) - len(line_suffix.lstrip())]
        self.context = line_suffix[:256]
        self.line_prefix = cursor.line_prefix[-256:]
        self.baseline = self.errors(text, self.context)

    def errors(self, candidate: str, rest_of_line: str) -> int:
        return _structure_errors(self.line_prefix + candidate + rest_of_line)

    def trim_whole(self) -> str | None:
        """The completion ends with the whole text after the cursor: trim it (ties win)."""
        if not self.body.endswith(self.wanted):
            return None
        trimmed = self.body[: len(self.body) - len(self.wanted)]
        if self.lead_space:
            trimmed = trimmed.rstrip(" \t")
        return trimmed if self.errors(trimmed, self.context) <= self.baseline else None

    def partial_trims(self) -> list[tuple[int, str, str]]:
        """It ends with the beginning of the text after the cursor: trim that."""
        found = []
        for size in range(len(self.wanted) - 1, 0, -1):
            if self.body.endswith(self.wanted[:size]):
                trimmed = self.body[: len(self.body) - size]
                score = self.errors(trimmed, self.context)
                if score < self.baseline:
                    found.append((score, trimmed, ""))
        return found

    def reclosings(self) -> list[tuple[int, str, str]]:
        """It re-closes the text after the cursor and goes on: replace that. Only a
        leading run of closing characters can be re-closed (a handful of candidates)."""
        found = []
        closing_run = len(self.wanted) - len(self.wanted.lstrip("".join(_CLOSING)))
        for size in range(closing_run, 0, -1):
            if _is_subsequence(self.wanted[:size], self.text):
                replaced = self.lead_space + self.wanted[:size]
                score = self.errors(self.text, self.context[len(replaced) :])
                if score < self.baseline:
                    found.append((score, self.text, replaced))
        return found


class StreamFilter:
    """Early-stop rules for a streamed completion.

    ``feed(chunk)`` returns the newly accepted raw text (stop/control tokens removed; a
    tail that might begin a token is held back until the next chunk). When ``done`` turns
    True, cancel the upstream stream: nothing after it would be shown. At the end, call
    ``finish()`` and pass ``text`` to ``postprocess`` for the full rule set.

    For FIM and prefix prompts only: a chat answer carries tags and prose around the
    code, so collect it whole (its stop is the closing tag), run
    ``extract_chat_completion``, then ``postprocess``.
    """

    def __init__(
        self,
        *,
        prefix: str,
        suffix: str,
        multiline: bool,
        stop: Sequence[str],
        special_tokens: Sequence[str],
        max_lines: int = DEFAULT_MAX_LINES,
    ) -> None:
        self._cursor = _Cursor.of(prefix, suffix)
        self._multiline = multiline
        self._tokens = _all_tokens(stop, special_tokens)
        # A token can only start at one of these characters; checking just those keeps
        # each feed cheap.
        self._token_starts = frozenset(t[0] for t in self._tokens) | {"<"}
        self._hold_limit = max(max((len(t) for t in self._tokens), default=1) - 1, 44)
        self._max_lines = max_lines
        self._pending = ""
        self._accepted: list[str] = []
        self._length = 0
        self._lines_checked = 0
        self.done = False

    @property
    def text(self) -> str:
        return "".join(self._accepted)

    def feed(self, chunk: str) -> str:
        if self.done or not chunk:
            return ""
        buffer = self._pending + chunk
        self._pending = ""
        if self._length == 0:
            buffer = _skip_leading_tokens(buffer, self._tokens)
        cut = _first_token(buffer, self._tokens)
        if cut < len(buffer):
            accepted = buffer[:cut]
            self.done = True
        else:
            hold = self._partial_token_tail(buffer)
            accepted, self._pending = buffer[: len(buffer) - hold], buffer[len(buffer) - hold :]
        self._accept(accepted)
        self._check_lines()
        return accepted

    def finish(self) -> str:
        """End of stream: release a held-back tail (it was not a token after all)."""
        rest = "" if self.done else self._pending
        self._pending = ""
        self._accept(rest)
        return rest

    def _accept(self, text: str) -> None:
        if text:
            self._accepted.append(text)
            self._length += len(text)

    def _partial_token_tail(self, buffer: str) -> int:
        """Length of the longest tail of ``buffer`` that may be the start of a token."""
        for index in range(max(0, len(buffer) - self._hold_limit), len(buffer)):
            if buffer[index] not in self._token_starts:
                continue
            tail = buffer[index:]
            if any(t.startswith(tail) for t in self._tokens) or _GENERIC_START.fullmatch(tail):
                return len(buffer) - index
        return 0

    def _check_lines(self) -> None:
        text = self.text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            return
        body = _fix_leading(text, self._cursor)
        if not self._multiline:
            if "\n" in body:  # the first line is complete: nothing after it is shown
                self.done = True
            return
        lines = body.split("\n")[:-1]  # complete lines only
        if len(lines) <= self._lines_checked:
            return
        self._lines_checked = len(lines)
        _, stopped = _apply_line_rules(lines, self._cursor, self._max_lines)
        if stopped or len(lines) >= self._max_lines:
            self.done = True
