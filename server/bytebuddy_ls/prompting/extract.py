"""Code out of a model's answer, shaped to fit the selection it replaces.

Models wrap code in Markdown fences, add "Here is the fixed code:" prose, or get cut
off mid-fence. :func:`extract_code` finds the code or says there is none (so callers
report instead of applying prose); :func:`reindent` and :func:`adapt_to_selection` fit
it to the document's indentation, tabs, line endings and trailing newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bytebuddy_ls.prompting.lines import (
    TAB_WIDTH,
    detect_eol,
    detect_indent_unit,
    indent_step,
    indent_width,
    leading_whitespace,
    normalize_eol,
    spaces_to_tabs,
    tabs_to_spaces,
)

# An opening fence: up to 3 spaces (models sometimes indent more inside lists, so any
# indentation is accepted), 3+ backticks or tildes, then an optional info string.
_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*?)\s*$")

# The language word at the start of an info string: "python", "c++", "objective-c"
# (not the ":path" or " title=..." some models add).
_TAG = re.compile(r"[\w#+-]+")

# LSP language ids and the fence tags models use for them.
_LANGUAGE_ALIASES: dict[str, frozenset[str]] = {
    "python": frozenset({"python", "py", "python3", "py3"}),
    "javascript": frozenset({"javascript", "js", "node", "mjs", "cjs"}),
    "javascriptreact": frozenset({"jsx", "javascriptreact", "javascript", "js"}),
    "typescript": frozenset({"typescript", "ts"}),
    "typescriptreact": frozenset({"tsx", "typescriptreact", "typescript", "ts"}),
    "shellscript": frozenset({"shellscript", "sh", "bash", "shell", "zsh"}),
    "csharp": frozenset({"csharp", "cs", "c#"}),
    "cpp": frozenset({"cpp", "c++", "cxx", "cc", "hpp"}),
    "c": frozenset({"c", "h"}),
    "rust": frozenset({"rust", "rs"}),
    "go": frozenset({"go", "golang"}),
    "ruby": frozenset({"ruby", "rb"}),
    "kotlin": frozenset({"kotlin", "kt", "kts"}),
    "markdown": frozenset({"markdown", "md"}),
    "yaml": frozenset({"yaml", "yml"}),
    "dockerfile": frozenset({"dockerfile", "docker"}),
    "powershell": frozenset({"powershell", "ps1", "pwsh"}),
    "objective-c": frozenset({"objective-c", "objc", "objectivec"}),
    "plaintext": frozenset({"plaintext", "text", "txt"}),
}

# Tags that never hold the code to apply (commands to run, sample output).
_NOT_CODE_TAGS = frozenset({"console", "output", "terminal", "shell-session", "log"})


def language_tags(language: str | None) -> frozenset[str]:
    """Fence info tags that denote ``language`` (an LSP language id)."""
    if not language:
        return frozenset()
    lowered = language.lower()
    return _LANGUAGE_ALIASES.get(lowered, frozenset({lowered}))


@dataclass(frozen=True)
class FencedBlock:
    """One fenced block of an answer; ``terminated`` is False for a cut-off answer."""

    info: str
    code: str
    terminated: bool

    @property
    def tag(self) -> str:
        """The language word of the info string (``"python"`` of ``"python title=x"``)."""
        match = _TAG.match(self.info.lstrip("{."))
        return match.group(0).lower() if match else ""


def fenced_blocks(answer: str) -> list[FencedBlock]:
    """Every top-level fenced block (CommonMark rules: a closing fence is the same
    character, at least as long, with nothing after it; nested shorter fences are
    content). A fence left open runs to the end of the answer."""
    blocks: list[FencedBlock] = []
    lines = answer.split("\n")
    index = 0
    while index < len(lines):
        opening = _FENCE_OPEN.match(lines[index].rstrip("\r"))
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            index += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        body: list[str] = []
        index += 1
        terminated = False
        while index < len(lines):
            line = lines[index].rstrip("\r")
            stripped = line.strip()
            if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
                terminated = True
                index += 1
                break
            body.append(_drop_indent(line, indent))
            index += 1
        if not terminated:
            body = _drop_partial_fence(body)
        blocks.append(FencedBlock(opening["info"].strip(), "\n".join(body), terminated))
    return blocks


def _drop_indent(line: str, indent: str) -> str:
    """A fence indented inside a list indents its content too; undo that much."""
    if indent and line.startswith(indent):
        return line[len(indent) :]
    return line.lstrip(" \t") if indent and not line[: len(indent)].strip() else line


def _drop_partial_fence(body: list[str]) -> list[str]:
    """A truncated answer may end in the first backticks of the closing fence."""
    while body and (not body[-1].strip() or set(body[-1].strip()) <= {"`", "~"}):
        body = body[:-1]
    return body


def extract_code(answer: str, *, language: str | None = None) -> str | None:
    """The code in a model's answer, or None when the answer is prose only.

    Fenced blocks win: those tagged with ``language`` (or untagged) are preferred, the
    largest of them is taken. Without fences, surrounding prose lines ("Here is the
    code:") are stripped and the rest is code unless it reads as prose. The result
    has no trailing newline; :func:`adapt_to_selection` restores the right one.
    """
    all_blocks = fenced_blocks(answer)
    if not all_blocks:
        return _unfenced_code(answer)
    blocks = [b for b in all_blocks if b.code.strip()]
    if not blocks:
        return None  # the model fenced nothing: there is no code to apply
    return _best_block(blocks, language).code.strip("\n").rstrip()


def _best_block(blocks: list[FencedBlock], language: str | None) -> FencedBlock:
    tags = language_tags(language)
    matching = [b for b in blocks if b.tag in tags]
    untagged = [b for b in blocks if not b.tag]
    candidates = matching or untagged or [b for b in blocks if b.tag not in _NOT_CODE_TAGS]
    return max(candidates or blocks, key=lambda b: len(b.code.strip()))


# Prose lines: a capitalised or plain sentence of several words, without the
# punctuation code is made of. Code comments start with a marker and are not prose.
_CODE_CHARS = re.compile(r"[{}()\[\];=<>]|->|::|\b(?:def|fn|func|function|return|import)\b")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")


def _is_prose_line(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped[0] in "#/*-;%<'\"@`" or _CODE_CHARS.search(stripped):
        return False
    words = _WORD.findall(stripped)
    if sum(len(w) for w in words) < 0.6 * len(stripped):
        return False
    # Short keyword lines ("SELECT name FROM users") are code; sentences end in
    # punctuation or run long.
    return (len(words) >= 3 and stripped[-1] in ".!?:,") or len(words) >= 8


def _unfenced_code(answer: str) -> str | None:
    lines = [line.rstrip() for line in answer.replace("\r\n", "\n").split("\n")]
    start, end = 0, len(lines)
    # Strip lead-in and closing prose lines ("Here is the updated function:").
    while start < end and (not lines[start].strip() or _is_prose_line(lines[start])):
        start += 1
    while end > start and (not lines[end - 1].strip() or _is_prose_line(lines[end - 1])):
        end -= 1
    body = lines[start:end]
    non_blank = [line for line in body if line.strip()]
    if not non_blank:
        return None
    prose = sum(1 for line in non_blank if _is_prose_line(line))
    if prose * 2 > len(non_blank):
        return None
    return "\n".join(body)


# ---------------------------------------------------------------------------
# Indentation


def _convert_indent(lines: list[str], unit: str) -> list[str]:
    """Re-express each line's leading whitespace in ``unit`` steps (tabs vs spaces)."""
    uses_tabs = unit == "\t"
    code_uses_tabs = any(leading_whitespace(line).startswith("\t") for line in lines)
    if uses_tabs == code_uses_tabs:
        return lines
    if uses_tabs:
        step = indent_step(lines)
        return [spaces_to_tabs(line, step) for line in lines]
    return [tabs_to_spaces(line, unit) for line in lines]


def _common_indent(lines: list[str]) -> str:
    indents = [leading_whitespace(line) for line in lines if line.strip()]
    if not indents:
        return ""
    common = indents[0]
    for indent in indents[1:]:
        while not indent.startswith(common):
            common = common[:-1]
    return common


def reindent(
    code: str,
    target_indent: str,
    *,
    indent_unit: str | None = None,
    indent_first_line: bool = True,
) -> str:
    """``code`` moved to ``target_indent``: common indentation removed, the target added.

    Relative indentation is kept. ``indent_unit`` (a tab or N spaces, see
    :func:`detect_indent_unit`) converts the code's tabs/spaces to the document's;
    by default it follows ``target_indent`` (tabs if it has any). Blank lines stay
    empty. ``indent_first_line=False`` leaves the first line alone (the selection began
    after the indentation, which the document already has).
    """
    lines = code.split("\n")
    unit = indent_unit or ("\t" if "\t" in target_indent else None)
    if unit is not None:
        lines = _convert_indent(lines, unit)
    common = _common_indent(lines)
    shaped: list[str] = []
    for position, line in enumerate(lines):
        if not line.strip():
            shaped.append("")
            continue
        body = line[len(common) :]
        if position == 0 and not indent_first_line:
            shaped.append(body)
        else:
            shaped.append(target_indent + body)
    return "\n".join(shaped)


def adapt_to_selection(
    code: str,
    selection: str,
    *,
    line_prefix: str = "",
    document: str | None = None,
) -> str:
    """Extracted ``code`` shaped to replace ``selection`` exactly.

    ``line_prefix`` is the document text on the selection's first line before the
    selection. When it is whitespace, the selection is treated as whole lines at that
    indentation and the replacement's first line does not repeat it. When it holds code
    (a selection inside a line) only the later lines are re-indented. Tabs vs spaces
    follow the ``document`` (or the selection), line endings too, and the result ends
    with a newline exactly when the selection did.
    """
    source = document if document is not None else line_prefix + selection
    eol = detect_eol(source)
    unit = detect_indent_unit(source)
    code = code.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    selection_lines = selection.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not line_prefix.strip():
        first_selected = next((line for line in selection_lines if line.strip()), "")
        target = line_prefix + leading_whitespace(first_selected)
        code_lines = code.split("\n")
        # The model may mirror the selection's shape (first line flush, later lines at
        # their absolute indentation) or answer dedented; dedent the mirrored shape
        # back to relative form before re-indenting.
        if line_prefix and code_lines and not leading_whitespace(code_lines[0]):
            code = _dedent_mirrored(code_lines, selection_lines, len(line_prefix))
        shaped = reindent(code, target, indent_unit=unit)
        if line_prefix:
            shaped = shaped[len(line_prefix) :] if shaped.startswith(line_prefix) else shaped
    else:
        # A selection inside a line: the first line continues the document's line;
        # later lines are indented from that line's indentation unless the model
        # already wrote them at that absolute indentation.
        base = leading_whitespace(line_prefix)
        first, *later = code.split("\n")
        shaped = first
        if later:
            later = _convert_indent(later, unit)
            absolute = bool(base) and _common_indent(later).startswith(base)
            shaped += "\n" + "\n".join(
                line if absolute or not line.strip() else base + line for line in later
            )
    if selection.endswith(("\n", "\r")) and shaped:
        shaped += "\n"
    return normalize_eol(shaped, eol)


def _dedent_mirrored(code_lines: list[str], selection_lines: list[str], prefix_width: int) -> str:
    """Turn "first line flush, rest absolute" code into plain relative indentation.

    Decided against the selection's own shape: if the code's later lines sit about
    ``prefix_width`` deeper than a relative rendering would put them, shift them back.
    """
    later = [line for line in code_lines[1:] if line.strip()]
    selected_later = [line for line in selection_lines[1:] if line.strip()]
    if not later:
        return "\n".join(code_lines)
    code_min = min(indent_width(line) for line in later)
    if selected_later:
        selection_min = min(indent_width(line) for line in selected_later)
        relative = selection_min - prefix_width
        mirrored = abs(code_min - selection_min) < abs(code_min - relative)
    else:
        mirrored = code_min >= prefix_width + 1
    if not mirrored:
        return "\n".join(code_lines)
    shift = min(prefix_width, code_min)
    return "\n".join(
        [code_lines[0]]
        + [_remove_columns(line, shift) if line.strip() else line for line in code_lines[1:]]
    )


def _remove_columns(line: str, width: int) -> str:
    indent = leading_whitespace(line).expandtabs(TAB_WIDTH)
    return indent[width:] + line.lstrip(" \t")


def code_for_selection(
    answer: str,
    *,
    selection: str,
    language: str | None = None,
    line_prefix: str = "",
    document: str | None = None,
) -> str | None:
    """The edit result in one call: the answer's code fitted to replace ``selection``
    (see :func:`extract_code` and :func:`adapt_to_selection`); None when there is no code."""
    code = extract_code(answer, language=language)
    if code is None:
        return None
    return adapt_to_selection(code, selection, line_prefix=line_prefix, document=document)
