"""Chat prompt assembly: system prompt, document context, history trimmed to the window.

The chat route takes ``messages`` (the server applies the model's own chat template);
for text-generation-only endpoints :func:`render_messages` renders them in a named
format and :func:`render_chat_prompt` honours ``promptTemplates.chat``.

Messages are ``(role, content)`` tuples with role ``system``, ``user`` or ``assistant``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bytebuddy_ls.prompting.templates import render_template
from bytebuddy_ls.prompting.tokens import estimate_tokens, tokens_to_bytes, utf8_length

Message = tuple[str, str]

DEFAULT_CHAT_SYSTEM_PROMPT = (
    "You are ByteBuddy, an expert programming assistant inside the user's code editor. "
    "Answer accurately and concisely. When you show code, put it in fenced code blocks "
    "tagged with the language; when you change existing code, show the changed function "
    "or block in full (or the whole file when it is short) so it can be applied directly, "
    "and use comments like '// ... existing code ...' only for long unchanged parts. "
    "If the question is unclear or you are not sure, say so instead of guessing."
)

# Per-message overhead of chat templates (role markers, separators), in tokens.
MESSAGE_OVERHEAD_TOKENS = 4
# Upper bound for the document context, whatever the window: longer context costs
# latency and rarely helps a chat answer.
MAX_CONTEXT_BYTES = 24_000
# A file this small goes in whole alongside a selection, for surrounding context.
SMALL_FILE_BYTES = 6_000
# Share of the token budget the document context may take.
CONTEXT_BUDGET_SHARE = 0.5

# ---------------------------------------------------------------------------
# Templates


# ---------------------------------------------------------------------------
# Text renderings of a conversation, for endpoints without a chat route


def _chatml(messages: Sequence[Message]) -> str:
    body = "".join(f"<|im_start|>{role}\n{content}<|im_end|>\n" for role, content in messages)
    return body + "<|im_start|>assistant\n"


def _llama3(messages: Sequence[Message]) -> str:
    body = "".join(
        f"<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"
        for role, content in messages
    )
    return "<|begin_of_text|>" + body + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def _inst(messages: Sequence[Message]) -> str:
    """Llama 2 / Mistral ``[INST]`` format; the system prompt joins the first turn."""
    folded = fold_system_into_user(messages)
    out = ""
    for role, content in folded:
        if role == "user":
            out += f"<s>[INST] {content} [/INST]"
        else:
            out += f" {content}</s>"
    return out


def _gemma(messages: Sequence[Message]) -> str:
    body = "".join(
        f"<start_of_turn>{'model' if role == 'assistant' else 'user'}\n{content}<end_of_turn>\n"
        for role, content in fold_system_into_user(messages)
    )
    return body + "<start_of_turn>model\n"


def _zephyr(messages: Sequence[Message]) -> str:
    body = "".join(f"<|{role}|>\n{content}</s>\n" for role, content in messages)
    return body + "<|assistant|>\n"


def _alpaca(messages: Sequence[Message]) -> str:
    """``### Instruction`` / ``### Response`` (DeepSeek-Coder, WizardCoder, Magicoder)."""
    out = ""
    for role, content in messages:
        if role == "system":
            out += f"{content}\n\n"
        elif role == "user":
            out += f"### Instruction:\n{content}\n\n"
        else:
            out += f"### Response:\n{content}\n\n"
    return out + "### Response:\n"


def _plain(messages: Sequence[Message]) -> str:
    labels = {"system": "System", "user": "User", "assistant": "Assistant"}
    body = "".join(f"{labels.get(role, role)}: {content}\n\n" for role, content in messages)
    return body + "Assistant:"


CHAT_FORMATS: dict[str, Callable[[Sequence[Message]], str]] = {
    "chatml": _chatml,
    "llama3": _llama3,
    "llama2": _inst,
    "mistral": _inst,
    "gemma": _gemma,
    "zephyr": _zephyr,
    "alpaca": _alpaca,
    "deepseek": _alpaca,
    "plain": _plain,
}

# Model id patterns → format, first match wins; unknown models get "plain".
_FORMAT_BY_MODEL: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"llama-?3|llama3", re.I), "llama3"),
    (re.compile(r"qwen|yi-|hermes|smollm|phi-?3|starchat2|granite", re.I), "chatml"),
    (re.compile(r"gemma", re.I), "gemma"),
    (re.compile(r"zephyr|starchat", re.I), "zephyr"),
    (re.compile(r"deepseek|wizardcoder|magicoder", re.I), "alpaca"),
    (re.compile(r"llama-?2|codellama|mistral|mixtral|codestral", re.I), "llama2"),
)


def chat_format_for(model_id: str | None) -> str:
    """The text chat format a model id most likely expects ("plain" when unknown)."""
    for pattern, name in _FORMAT_BY_MODEL:
        if model_id and pattern.search(model_id):
            return name
    return "plain"


def render_messages(messages: Sequence[Message], chat_format: str = "plain") -> str:
    """One prompt string for ``messages`` in ``chat_format`` (see CHAT_FORMATS)."""
    renderer = CHAT_FORMATS.get(chat_format.lower(), _plain)
    return renderer(messages)


def fold_system_into_user(messages: Sequence[Message]) -> list[Message]:
    """Messages without a system role (some chat templates reject it): the system text
    becomes the start of the first user message."""
    system = "\n\n".join(content for role, content in messages if role == "system")
    rest = [(role, content) for role, content in messages if role != "system"]
    if not system:
        return rest
    for index, (role, content) in enumerate(rest):
        if role == "user":
            rest[index] = ("user", f"{system}\n\n{content}")
            return rest
    return [("user", system), *rest]


def render_chat_prompt(
    messages: Sequence[Message], *, template: str | None = None, model_id: str | None = None
) -> str:
    """The text prompt for a text-generation-only endpoint.

    ``template`` (``promptTemplates.chat``) is either a format name from CHAT_FORMATS or
    a template with the variables ``system``, ``history`` (earlier turns, as
    "User: …/Assistant: …"), ``userInput`` (alias ``input``, ``prompt``: the latest user
    message, context included) and ``messages`` (the whole conversation in plain form).
    Without a template the format is guessed from ``model_id``.
    """
    if template is None or template.strip().lower() in CHAT_FORMATS:
        name = template.strip().lower() if template else chat_format_for(model_id)
        return render_messages(messages, name)
    system = "\n\n".join(content for role, content in messages if role == "system")
    turns = [(role, content) for role, content in messages if role != "system"]
    last_user = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=-1)
    latest = turns[last_user][1] if last_user >= 0 else ""
    history = _plain(turns[:last_user]).removesuffix("Assistant:") if last_user > 0 else ""
    return render_template(
        template,
        {
            "system": system,
            "history": history.strip(),
            "userInput": latest,
            "input": latest,
            "prompt": latest,
            "messages": _plain(messages),
        },
    )


# ---------------------------------------------------------------------------
# Document context


@dataclass(frozen=True)
class DocumentContext:
    """The document a chat question is about.

    ``selection`` is a 0-based, end-exclusive line range (the editor's range, see
    :func:`range_to_lines`); ``cursor_line`` centres the excerpt of a large file when
    there is no selection.
    """

    text: str
    path: str | None = None
    language: str | None = None
    selection: tuple[int, int] | None = None
    cursor_line: int | None = None


def range_to_lines(start_line: int, end_line: int, end_character: int) -> tuple[int, int]:
    """An LSP range as whole lines ``[start, end)``: a range ending at column 0 of a
    later line does not include that line."""
    end = end_line if end_character == 0 and end_line > start_line else end_line + 1
    return start_line, max(end, start_line + 1)


def fence_for(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def fenced(text: str, language: str | None) -> str:
    fence = fence_for(text)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{language or ''}\n{body}{fence}"


def _window(lines: list[str], start: int, end: int, max_bytes: int) -> tuple[int, int]:
    """Shrink or grow ``[start, end)`` around its start to whole lines within max_bytes."""
    size = 0
    stop = start
    while stop < end and size + utf8_length(lines[stop]) <= max_bytes:
        size += utf8_length(lines[stop])
        stop += 1
    return start, stop


def _around(lines: list[str], center: int, max_bytes: int) -> tuple[int, int]:
    """Whole lines around ``center`` within ``max_bytes``, growing both ways."""
    center = max(0, min(center, len(lines) - 1))
    start, end, size = center, center, 0
    while True:
        grew = False
        if end < len(lines) and size + utf8_length(lines[end]) <= max_bytes:
            size += utf8_length(lines[end])
            end += 1
            grew = True
        if start > 0 and size + utf8_length(lines[start - 1]) <= max_bytes:
            start -= 1
            size += utf8_length(lines[start])
            grew = True
        if not grew:
            return start, end


def _label(document: DocumentContext) -> str:
    label = f"`{document.path}`" if document.path else "the current file"
    return f"{label} ({document.language})" if document.language else label


def _excerpt(document: DocumentContext, lines: list[str], span: tuple[int, int]) -> str:
    start, end = span
    note = ""
    if start > 0 or end < len(lines):
        note = f" (lines {start + 1}-{end} of {len(lines)})"
    return f"{_label(document)}{note}:\n{fenced(''.join(lines[start:end]), document.language)}"


def references_block(references: Sequence[tuple[str, str]]) -> str:
    """Workspace code for the question, each piece labelled with where it comes from."""
    parts = ["Code from the workspace that may be relevant:"]
    for label, code in references:
        fence = "````" if "```" in code else "```"
        parts.append(f"{label}\n{fence}\n{code}\n{fence}")
    return "\n\n".join(parts)


def context_block(document: DocumentContext, max_bytes: int = MAX_CONTEXT_BYTES) -> str:
    """The document context as Markdown, within ``max_bytes`` (whole lines only).

    With a selection: the whole file first when it is small, then the selected lines
    (cut to the budget); without one: the whole file, or the part around the cursor.
    """
    lines = document.text.splitlines(keepends=True)
    if not lines or max_bytes <= 0:
        return f"File: {_label(document)} (empty)" if not lines else ""
    total = utf8_length(document.text)
    if document.selection is None:
        if total <= max_bytes:
            return f"File: {_excerpt(document, lines, (0, len(lines)))}"
        center = document.cursor_line if document.cursor_line is not None else 0
        return f"File: {_excerpt(document, lines, _around(lines, center, max_bytes))}"
    start = max(0, min(document.selection[0], len(lines) - 1))
    end = max(start + 1, min(document.selection[1], len(lines)))
    selected_bytes = sum(utf8_length(line) for line in lines[start:end])
    parts: list[str] = []
    if total <= min(SMALL_FILE_BYTES, max_bytes - selected_bytes):
        parts.append(f"File: {_excerpt(document, lines, (0, len(lines)))}")
    span = _window(lines, start, end, max_bytes)
    if span[1] == span[0]:
        return "\n\n".join(parts)
    cut = " (cut short)" if span[1] < end else ""
    selected = "".join(lines[span[0] : span[1]])
    parts.append(
        f"Selected lines {span[0] + 1}-{span[1]} of {_label(document)}{cut}:\n"
        f"{fenced(selected, document.language)}"
    )
    return "\n\n".join(parts)


# ---------------------------------------------------------------------------
# Assembly and trimming


def message_tokens(message: Message) -> int:
    return estimate_tokens(message[1]) + MESSAGE_OVERHEAD_TOKENS


def _merged_system(system_prompt: str | None, messages: Iterable[Message]) -> str:
    parts = [system_prompt if system_prompt is not None else DEFAULT_CHAT_SYSTEM_PROMPT]
    parts += [content for role, content in messages if role == "system" and content.strip()]
    return "\n\n".join(part for part in parts if part.strip())


def build_chat_messages(
    messages: Sequence[Message],
    *,
    system_prompt: str | None = None,
    document: DocumentContext | None = None,
    budget_tokens: int | None = None,
    references: Sequence[tuple[str, str]] = (),
) -> list[Message]:
    """The messages to send: system prompt, history, and the latest question with context.

    ``references`` are (label, code) pairs from the workspace (``@workspace``,
    ``@file``), already cut to their budget; they go in front of the question, before
    the document context.

    - The system prompt is ``system_prompt`` (None → DEFAULT_CHAT_SYSTEM_PROMPT, "" →
      none) followed by any system messages the client sent.
    - The document context goes in front of the latest user message, sized to at most
      half of ``budget_tokens`` (what is left of the window after the answer).
    - History is dropped oldest-first until everything fits ``budget_tokens``; the system
      prompt and the latest user message (and anything after it) always stay, and the
      kept history starts with a user turn.

    Raises ValueError when there is no user message.
    """
    system = _merged_system(system_prompt, messages)
    turns = [
        (role if role in ("user", "assistant") else "user", content)
        for role, content in messages
        if role != "system"
    ]
    latest = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=-1)
    if latest < 0:
        raise ValueError("the conversation has no user message")
    head = [("system", system)] if system else []
    question = turns[latest][1]
    if document is not None:
        max_bytes = MAX_CONTEXT_BYTES
        if budget_tokens is not None:
            fixed = sum(message_tokens(m) for m in head) + message_tokens(turns[latest])
            allowed = min(int(budget_tokens * CONTEXT_BUDGET_SHARE), budget_tokens - fixed)
            max_bytes = min(max_bytes, tokens_to_bytes(allowed))
        context = context_block(document, max_bytes)
        if context:
            question = f"{context}\n\n{question}"
    if references:
        question = f"{references_block(references)}\n\n{question}"
    tail: list[Message] = [("user", question), *turns[latest + 1 :]]
    history = turns[:latest]
    if budget_tokens is not None:
        used = sum(message_tokens(m) for m in head + tail)
        sizes = [message_tokens(m) for m in history]
        total = used + sum(sizes)
        drop = 0
        while drop < len(history) and total > budget_tokens:
            total -= sizes[drop]
            drop += 1
        history = history[drop:]
    while history and history[0][0] != "user":
        history = history[1:]
    return head + history + tail


# ---------------------------------------------------------------------------
# Answers


class AnswerStart:
    """Drops the blank lines a chat answer starts with (llama.cpp's server and several
    chat templates emit a leading newline), from a stream of deltas.

    Only whole blank lines go: the first line with text keeps its indentation, so an
    answer that starts with indented code stays code. Feed deltas to ``feed``; it
    returns what may be shown now ("" while the answer is still only whitespace).
    """

    def __init__(self) -> None:
        self._pending = ""
        self._started = False

    def feed(self, delta: str) -> str:
        if self._started:
            return delta
        self._pending += delta
        if not self._pending.strip():
            return ""
        self._started = True
        text, self._pending = self._pending, ""
        first_text = len(text) - len(text.lstrip())
        return text[text.rfind("\n", 0, first_text) + 1 :]


def trim_answer_start(answer: str) -> str:
    """``answer`` without the blank lines it starts with (see ``AnswerStart``)."""
    return AnswerStart().feed(answer)
