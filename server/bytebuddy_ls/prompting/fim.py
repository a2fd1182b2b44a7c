"""Autocomplete prompts: the one table of fill-in-the-middle (FIM) families.

A model id (``bigcode/starcoder2-15b``, ``Qwen/Qwen2.5-Coder-7B:nebius``, …) is matched
case-insensitively against ``FIM_FAMILIES`` in order; the first match decides the prompt
and its stop tokens. Models without a FIM family get either a prefix-only prompt (base
models) or a hole-filling chat prompt (instruct/chat models).

Stop tuples are ordered by importance: the family's separator/sentinel tokens first, the
end-of-sequence token last, because some servers accept only 4 stop sequences (OpenAI,
TGI's default ``max_stop_sequences``) and a server always stops on EOS by itself. The
post-processor strips every token of ``special_tokens_for`` anyway, so truncating the
stop list never lets a token leak.

File header: only Qwen2.5/Qwen3-Coder gets one — its documented repository-level format
puts ``<|repo_name|>name\\n`` and ``<|file_sep|>path\\n`` before the FIM tokens.
StarCoder2 was trained with ``<file_sep>`` too, but with the path *inside* the FIM
prefix and only in repository context; it is not emitted, so StarCoder2 prompts stay
exactly ``<fim_prefix>P<fim_suffix>S<fim_middle>``. Other families have no documented
header, and a comment header would change the code the model continues.

Cross-file context (snippets of other files) goes in the family's repository-level
format where it was trained with one (``repo_format``): Qwen2.5-Coder
``<|file_sep|>path\\ncode`` blocks after ``<|repo_name|>``; StarCoder2
``<file_sep>path\\ncode`` blocks, the current file then as
``<file_sep><fim_prefix>path\\nP…``; CodeGemma ``<|file_separator|>path\\ncode``
blocks. Every other family gets the snippets as comments at the top of the prefix, in
the language's comment syntax (what a model sees in real files), and a chat prompt gets
them as a block before the file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .templates import literal_text, mentions, render_template

PromptKind = Literal["fim", "prefix", "chat"]
RepoFormat = Literal["qwen", "starcoder2", "codegemma"]
ContextFiles = Sequence[tuple[str, str]]  # (path shown to the model, text)

# Markers for where the prefix and suffix go in a family's template segments.
_P = "\x00prefix"
_S = "\x00suffix"


@dataclass(frozen=True)
class FimFamily:
    name: str
    pattern: re.Pattern[str]
    # Literal segments and the _P/_S markers, joined in order (single pass: text that
    # looks like a marker inside the prefix is never substituted twice).
    segments: tuple[str, ...]
    stop: tuple[str, ...]
    # Control tokens the model may emit besides the stop tokens.
    extra_tokens: tuple[str, ...] = ()
    header: Literal["qwen", None] = None
    # Multi-file format, for model ids matching ``repo_pattern`` (all when None).
    repo_format: RepoFormat | None = None
    repo_pattern: re.Pattern[str] | None = None

    def repo_format_for(self, model_id: str) -> RepoFormat | None:
        if self.repo_pattern is not None and not self.repo_pattern.search(model_id):
            return None
        return self.repo_format

    def render(self, prefix: str, suffix: str) -> str:
        return "".join(prefix if s == _P else suffix if s == _S else s for s in self.segments)

    @property
    def special_tokens(self) -> tuple[str, ...]:
        literal = tuple(s for s in self.segments if s not in (_P, _S))
        return _unique(tuple(t.strip() for t in literal) + self.stop + self.extra_tokens)


def _family(
    name: str,
    pattern: str,
    segments: tuple[str, ...],
    stop: tuple[str, ...],
    extra: tuple[str, ...] = (),
    header: Literal["qwen", None] = None,
    repo_format: RepoFormat | None = None,
    repo_pattern: str | None = None,
) -> FimFamily:
    return FimFamily(
        name,
        re.compile(pattern, re.IGNORECASE),
        segments,
        stop,
        extra,
        header,
        repo_format,
        re.compile(repo_pattern, re.IGNORECASE) if repo_pattern else None,
    )


_STARCODER_SEGMENTS = ("<fim_prefix>", _P, "<fim_suffix>", _S, "<fim_middle>")
_STARCODER_EXTRA = ("<fim_pad>", "<repo_name>", "<reponame>", "<filename>", "<gh_stars>")
_PIPE_FIM_SEGMENTS = ("<|fim_prefix|>", _P, "<|fim_suffix|>", _S, "<|fim_middle|>")
_PIPE_FIM_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")

# Order matters: CodeQwen1.5 (StarCoder tokens) must win over the Qwen-Coder pattern.
FIM_FAMILIES: tuple[FimFamily, ...] = (
    _family(
        "starcoder",
        r"starcoder|santacoder|stable[-_]?code|codeqwen",
        _STARCODER_SEGMENTS,
        ("<file_sep>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<|endoftext|>"),
        _STARCODER_EXTRA,
        repo_format="starcoder2",
        repo_pattern=r"starcoder2",
    ),
    _family(
        "qwen-coder",
        r"qwen[-_]?\d*(?:\.\d+)?[-_]?coder",
        _PIPE_FIM_SEGMENTS,
        ("<|file_sep|>", "<|fim_pad|>", "<|im_end|>", "<|endoftext|>", *_PIPE_FIM_TOKENS),
        ("<|repo_name|>", "<|im_start|>"),
        header="qwen",
        repo_format="qwen",
    ),
    _family(
        "codegemma",
        r"code[-_]?gemma",
        _PIPE_FIM_SEGMENTS,
        ("<|file_separator|>", "<end_of_turn>", "<eos>", *_PIPE_FIM_TOKENS),
        ("<start_of_turn>",),
        repo_format="codegemma",
    ),
    _family(
        "codellama",
        r"code[-_]?llama",
        ("<PRE> ", _P, " <SUF>", _S, " <MID>"),
        ("<EOT>", "<PRE>", "<SUF>", "<MID>"),
    ),
    _family(
        "deepseek-coder",
        r"deepseek[-_]?coder",
        ("<｜fim▁begin｜>", _P, "<｜fim▁hole｜>", _S, "<｜fim▁end｜>"),
        ("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
        ("<｜begin▁of▁sentence｜>",),
    ),
    _family(
        "codestral",
        r"codestral",
        ("[SUFFIX]", _S, "[PREFIX]", _P),
        ("[PREFIX]", "[SUFFIX]"),
        ("[MIDDLE]",),
    ),
    _family(
        "granite-code",
        r"granite.*code",
        _STARCODER_SEGMENTS,
        ("<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<|endoftext|>"),
        _STARCODER_EXTRA,
    ),
)

# Ids that name a chat/instruct model (used only when no FIM family matched).
_CHAT_MODEL = re.compile(
    r"instruct|chat|[-_.]it(?:[-_.:]|$)|gpt(?![-_]?(?:2|j\b|neo|bigcode))|claude|gemini|(?:^|[/:-])o[134](?:[-:]|$)|"
    r"deepseek[-_]?(?:v\d|r1)|qwq|qwen3|kimi|glm[-_]?\d|command[-_]?r|hermes|zephyr|"
    r"vicuna|openchat|magistral|mistral[-_](?:small|medium|large)|smollm\d?.*instruct",
    re.IGNORECASE,
)
_BASE_MODEL = re.compile(r"(?:^|[-_/.])base(?:[-_.:]|$)", re.IGNORECASE)

CHAT_COMPLETION_TAG = "COMPLETION"
_OPEN_TAG = f"<{CHAT_COMPLETION_TAG}>"
_CLOSE_TAG = f"</{CHAT_COMPLETION_TAG}>"
HOLE_MARKER = "{{HOLE}}"


@dataclass(frozen=True)
class AutocompletePrompt:
    """What to send for one autocomplete request.

    ``kind == "fim"`` or ``"prefix"``: send ``prompt`` as raw text generation input.
    ``kind == "chat"``: send ``messages`` (role, content) to a chat endpoint and pass the
    answer through ``extract_chat_completion``. Merge ``stop`` with the model's configured
    ``defaultCompletionOptions.stop``.
    """

    kind: PromptKind
    prompt: str = ""
    messages: list[tuple[str, str]] = field(default_factory=list)
    stop: tuple[str, ...] = ()
    family: str | None = None
    # How cross-file context was put in: a repo format, "comments", "chat", or None.
    context_format: str | None = None


def family_for(model_id: str) -> FimFamily | None:
    """The FIM family of a model id, or None."""
    return next((f for f in FIM_FAMILIES if f.pattern.search(model_id)), None)


def is_chat_model(model_id: str) -> bool:
    """True for ids that look like chat/instruct models with no FIM family."""
    if family_for(model_id) is not None or _BASE_MODEL.search(model_id):
        return False
    return _CHAT_MODEL.search(model_id) is not None


# Generic end/control tokens of common chat and base models, stripped from any output.
# Only forms that cannot be ordinary code are listed (no "</s>": it is an HTML tag).
GENERIC_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_end|>",
    "<|im_start|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|end|>",
    "<|EOT|>",
    "<｜end▁of▁sentence｜>",
    "<end_of_turn>",
)


def special_tokens_for(model_id: str, template: str | None = None) -> tuple[str, ...]:
    """Every FIM/control token that must never reach the editor for this model.

    Includes the family's tokens, the generic end tokens of common models, the
    hole-filling tags of the chat prompt, and control-looking tokens of a custom template.
    """
    family = family_for(model_id)
    tokens = family.special_tokens if family else ()
    template_tokens = _template_tokens(template) if template else ()
    chat = (_OPEN_TAG, _CLOSE_TAG, HOLE_MARKER)
    return _unique(tokens + template_tokens + GENERIC_SPECIAL_TOKENS + chat)


def build_autocomplete_prompt(
    model_id: str,
    prefix: str,
    suffix: str,
    *,
    filename: str | None,
    language: str | None,
    template: str | None = None,
    repo_name: str | None = None,
    chat_only: bool = False,
    context: ContextFiles = (),
) -> AutocompletePrompt:
    """The prompt for one autocomplete request.

    ``template`` is ``promptTemplates.autocomplete``: it overrides the family table (see
    ``render_fim_template`` for its variables). ``chat_only`` forces the hole-filling chat
    prompt, for transports that only speak chat completions (e.g. the router's
    OpenAI-compatible route). ``filename`` should be workspace-relative when possible.
    ``context``: snippets of other files, rendered as the module docstring says;
    ``context_format`` of the result names the form used.
    """
    family = family_for(model_id)
    rendered = None
    if template is not None:
        rendered = render_fim_template(
            template,
            prefix=prefix,
            suffix=suffix,
            filename=filename,
            language=language,
            repo_name=repo_name,
            context=context_as_comments(context, language),
        )
    if chat_only or (template is None and family is None and is_chat_model(model_id)):
        return AutocompletePrompt(
            kind="chat",
            messages=_chat_messages(prefix, suffix, filename, language, context, rendered),
            stop=(_CLOSE_TAG,),
            family=None,
            context_format="chat" if context else None,
        )
    if template is not None and rendered is not None:
        stop = _unique((family.stop if family else ()) + _template_tokens(template))
        kind: PromptKind = "fim" if mentions(template, "suffix") else "prefix"
        uses_context = bool(context) and mentions(template, "context")
        return AutocompletePrompt(
            kind=kind,
            prompt=rendered,
            stop=stop,
            family=family.name if family else None,
            context_format="comments" if uses_context else None,
        )
    if family is None:
        comments = context_as_comments(context, language)
        return AutocompletePrompt(
            kind="prefix",
            prompt=comments + prefix,
            stop=(),
            family=None,
            context_format="comments" if comments else None,
        )
    return _family_prompt(family, model_id, prefix, suffix, filename, language, repo_name, context)


def _family_prompt(
    family: FimFamily,
    model_id: str,
    prefix: str,
    suffix: str,
    filename: str | None,
    language: str | None,
    repo_name: str | None,
    context: ContextFiles,
) -> AutocompletePrompt:
    """The family's FIM prompt, other files in its repository-level format if it has
    one (Qwen, StarCoder2, CodeGemma), else as comments before the prefix."""
    repo_format = family.repo_format_for(model_id) if context else None
    if repo_format == "qwen":
        prompt = _qwen_repo(filename, repo_name, context) + family.render(prefix, suffix)
    elif repo_format == "starcoder2":
        files = "".join(f"<file_sep>{path}\n{text}\n" for path, text in context)
        repo = f"<repo_name>{repo_name}" if repo_name else ""
        current = f"{filename}\n" if filename else ""
        prompt = repo + files + "<file_sep>" + family.render(current + prefix, suffix)
    elif repo_format == "codegemma":
        files = "".join(f"<|file_separator|>{path}\n{text}\n" for path, text in context)
        current = f"<|file_separator|>{filename}\n" if filename else "<|file_separator|>"
        prompt = files + current + family.render(prefix, suffix)
    else:
        comments = context_as_comments(context, language)
        header = _qwen_header(filename, repo_name) if family.header == "qwen" else ""
        prompt = header + family.render(comments + prefix, suffix)
        repo_format = None
    return AutocompletePrompt(
        kind="fim",
        prompt=prompt,
        stop=family.stop,
        family=family.name,
        context_format=repo_format or ("comments" if context else None),
    )


def _qwen_header(filename: str | None, repo_name: str | None) -> str:
    if not filename:
        return ""
    repo = f"<|repo_name|>{repo_name}\n" if repo_name else ""
    return f"{repo}<|file_sep|>{filename}\n"


def _qwen_repo(filename: str | None, repo_name: str | None, context: ContextFiles) -> str:
    repo = f"<|repo_name|>{repo_name}\n" if repo_name else ""
    files = "".join(f"<|file_sep|>{path}\n{text}\n" for path, text in context)
    return f"{repo}{files}<|file_sep|>{filename or 'untitled'}\n"


# Line-comment syntax by LSP language id (default ``//``); block-only languages wrap.
_LINE_COMMENT = {
    **dict.fromkeys(
        str.split(
            "python ruby shellscript perl r yaml toml elixir julia coffeescript powershell "
            "dockerfile makefile nim crystal cmake"
        ),
        "#",
    ),
    **dict.fromkeys(["lua", "sql", "haskell", "elm", "ada"], "--"),
    **dict.fromkeys(["clojure", "lisp", "scheme", "racket"], ";;"),
    "erlang": "%",
    "latex": "%",
    "tex": "%",
    "matlab": "%",
    "vim": '"',
    "bat": "REM",
}
_BLOCK_COMMENT = {
    **dict.fromkeys(["html", "xml", "vue", "svelte", "markdown"], ("<!--", "-->")),
    "css": ("/*", "*/"),
    "ocaml": ("(*", "*)"),
}


def context_as_comments(context: ContextFiles, language: str | None) -> str:
    """Snippets of other files as comments, each headed by its path (ends in a newline)."""
    if not context:
        return ""
    block = _BLOCK_COMMENT.get(language or "")
    out: list[str] = []
    for path, text in context:
        if block is not None:
            body = text.replace(block[1], block[1][0] + " " + block[1][1:])
            out.append(f"{block[0]} Path: {path}\n{body}\n{block[1]}\n")
            continue
        mark = _LINE_COMMENT.get(language or "", "//")
        lines = [f"{mark} Path: {path}"]
        lines += [f"{mark} {line}".rstrip() for line in text.split("\n")]
        out.append("\n".join(lines) + "\n")
    return "".join(out)


def render_fim_template(
    template: str,
    *,
    prefix: str,
    suffix: str,
    filename: str | None,
    language: str | None,
    repo_name: str | None = None,
    context: str = "",
) -> str:
    """Fill an autocomplete template (see :func:`templates.render_template`). Variables:
    prefix, suffix, filename (alias filepath), language, reponame (alias repo_name),
    context (other files' snippets as comments)."""
    values = {
        "prefix": prefix,
        "suffix": suffix,
        "filename": filename or "",
        "filepath": filename or "",
        "language": language or "",
        "reponame": repo_name or "",
        "repo_name": repo_name or "",
        "context": context,
    }
    return render_template(template, values)


# Control-looking tokens in a template's literal text: <fim_prefix>, <|x|>, <｜x｜>, [SUFFIX].
_CONTROL_TOKEN = re.compile(r"<\|?[A-Za-z_▁][\w▁]*\|?>|<｜[^｜<>\s]{1,40}｜>|\[[A-Z]{3,12}\]")


def _template_tokens(template: str) -> tuple[str, ...]:
    literal = literal_text(template)
    return _unique(tuple(m.group(0) for m in _CONTROL_TOKEN.finditer(literal)))


_CHAT_SYSTEM = (
    "You are a code completion engine inside a code editor. The user shows a file with "
    f"a hole marked {HOLE_MARKER} at the cursor. Reply with only the code that belongs in "
    f"the hole, wrapped in {_OPEN_TAG}{_CLOSE_TAG}. The text is inserted verbatim at the "
    "cursor: no explanation, no markdown fences, do not repeat code before or after the "
    "hole, keep the file's indentation. Prefer a short completion (the rest of the line "
    "or the current block). If nothing fits, reply "
    f"{_OPEN_TAG}{_CLOSE_TAG}."
)

_EXAMPLE_USER = (
    "File: example.py (python)\n"
    "<FILE>\n"
    "def is_even(n: int) -> bool:\n"
    f"    return {HOLE_MARKER}\n"
    "\n"
    "print(is_even(4))\n"
    "</FILE>"
)
_EXAMPLE_ANSWER = f"{_OPEN_TAG}n % 2 == 0{_CLOSE_TAG}"


def _chat_messages(
    prefix: str,
    suffix: str,
    filename: str | None,
    language: str | None,
    context: ContextFiles,
    rendered_template: str | None,
) -> list[tuple[str, str]]:
    """The hole-filling chat; the user's own template, rendered, replaces the file turn."""
    if rendered_template is not None:
        user = rendered_template
    else:
        label = filename or "untitled"
        if language:
            label += f" ({language})"
        user = f"File: {label}\n<FILE>\n{prefix}{HOLE_MARKER}{suffix}\n</FILE>"
        if context:
            blocks = "".join(f'<FILE path="{path}">\n{text}\n</FILE>\n' for path, text in context)
            user = f"Code from other files of the project, for reference:\n{blocks}\n{user}"
    return [
        ("system", _CHAT_SYSTEM),
        ("user", _EXAMPLE_USER),
        ("assistant", _EXAMPLE_ANSWER),
        ("user", user),
    ]


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)
_STRAY_TAG = re.compile(rf"</?{CHAT_COMPLETION_TAG}>", re.IGNORECASE)
_PROSE_LEAD = re.compile(
    r"^\s*(?:here(?:'s| is| are)|sure|certainly|of course|the (?:missing|completed?|"
    r"code|completion)|this (?:completes|fills)|i (?:would|will|'ll))\b[^\n]*\n",
    re.IGNORECASE,
)


def extract_chat_completion(answer: str, *, prefix: str = "") -> str:
    """The hole text from a chat model's answer to the hole-filling prompt.

    Drops reasoning blocks (``<think>…</think>``), takes the text inside
    ``<COMPLETION>`` (the closing tag is usually cut off by the stop sequence), else the
    first fenced code block, else the answer minus a leading line of prose. When
    ``prefix`` is given, a repetition of the cursor line's text before the cursor is
    removed (chat models often rewrite the whole line). Returns "" when nothing is left.
    """
    text = _THINK_BLOCK.sub("", answer)
    if re.search(r"<think>", text, re.IGNORECASE):
        return ""  # still reasoning when the output stopped: no completion
    lowered = text.lower()
    start = lowered.find(_OPEN_TAG.lower())
    if start >= 0:
        text = text[start + len(_OPEN_TAG) :]
        end = text.lower().find(_CLOSE_TAG.lower())
        if end >= 0:
            text = text[:end]
    else:
        end = lowered.find(_CLOSE_TAG.lower())
        if end >= 0:
            text = text[:end]
        fence = _FENCE.search(text)
        text = fence.group(1) if fence else _PROSE_LEAD.sub("", text, count=1)
    while True:  # removing one tag can join the halves of another
        cleaned = _STRAY_TAG.sub("", text.replace(HOLE_MARKER, ""))
        if cleaned == text:
            break
        text = cleaned
    # A tag on its own line leaves newlines around the code that are not part of it.
    text = text.strip("\r\n") if text.strip() else ""
    line_prefix = prefix[prefix.rfind("\n") + 1 :].lstrip()
    if line_prefix and text.lstrip().startswith(line_prefix):
        text = text.lstrip()[len(line_prefix) :]
    return text


def _unique(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))
