"""Prompts for the ``edit`` and ``apply`` roles, and the AI code actions as data.

Edit: rewrite a selection by an instruction; the model answers with only the new
selection in one fenced block (then :mod:`.extract` takes it out and fits it in).
Apply: merge a code block with "... existing code ..." placeholders into the file; the
model answers with the merged file (or region) in one fenced block (then :mod:`.merge`
diffs it into minimal edits).

Each role has chat ``messages`` (for the chat route) and a text rendering (for
text-generation-only endpoints), overridable with ``promptTemplates.edit`` /
``promptTemplates.apply``. Template variables (``{{x}}`` and ``{{{x}}}`` both work,
names are case-insensitive, ``{{#if x}}…{{/if}}`` sections too):

edit
    ``userInput`` (aliases ``input``, ``instruction``): the instruction;
    ``codeToEdit`` (alias ``code``): the selected code;
    ``language``; ``filepath`` (alias ``filename``);
    ``prefix`` / ``suffix``: bounded text before / after the selection;
    ``diagnostics``: the diagnostics' messages, one per line.
apply
    ``originalCode`` (alias ``original_code``): the file (or region) as it is;
    ``newCode`` (alias ``new_code``): the block to merge in;
    ``language``; ``filepath`` (alias ``filename``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal, Protocol

from bytebuddy_ls.prompting.chat import (
    Message,
    chat_format_for,
    fenced,
    render_messages,
)
from bytebuddy_ls.prompting.lines import split_lines
from bytebuddy_ls.prompting.templates import render_template

# Text around the selection shown to the edit model, per side, in characters (whole
# lines nearest the selection are kept).
MAX_SURROUNDING_CHARS = 3_000

# ---------------------------------------------------------------------------
# Actions

ActionResult = Literal["edit", "new_file", "chat"]


@dataclass(frozen=True)
class Action:
    """An AI code action.

    ``kind`` is the LSP CodeActionKind value; ``result`` says what the answer becomes:
    a replacement of the selection (``edit``), a new file (``new_file``, e.g. tests), or
    an answer shown to the user (``chat``). ``needs_diagnostics`` actions are offered only
    when diagnostics touch the range.
    """

    id: str
    title: str
    kind: str
    instruction: str
    result: ActionResult = "edit"
    needs_diagnostics: bool = False


BUILTIN_ACTIONS: tuple[Action, ...] = (
    Action(
        id="fix",
        title="ByteBuddy: Fix",
        kind="quickfix",
        instruction=(
            "Fix the problems reported by the diagnostics below. Change only what is "
            "needed to fix them and keep the code's behaviour otherwise."
        ),
        needs_diagnostics=True,
    ),
    Action(
        id="docstring",
        title="ByteBuddy: Add docstring/comments",
        kind="refactor.rewrite",
        instruction=(
            "Add a docstring (or the language's documentation comment) and brief comments "
            "where the code is not obvious. Follow the documentation conventions of the "
            "language and of the surrounding code. Do not change the code itself."
        ),
    ),
    Action(
        id="refactor",
        title="ByteBuddy: Refactor/improve",
        kind="refactor.rewrite",
        instruction=(
            "Improve this code: make it clearer, simpler and more idiomatic without "
            "changing its behaviour or its public interface."
        ),
    ),
    Action(
        id="tests",
        title="ByteBuddy: Write tests",
        kind="source",
        instruction=(
            "Write unit tests for this code with the test framework usual for the "
            "language and project. Cover normal cases, edge cases and errors. Reply with "
            "a complete test file, including imports."
        ),
        result="new_file",
    ),
    Action(
        id="explain",
        title="ByteBuddy: Explain",
        kind="",  # CodeActionKind.Empty: not a fix or refactor; listed with the others
        instruction=(
            "Explain what this code does, how it works, and anything surprising or "
            "risky in it. Be concise."
        ),
        result="chat",
    ),
)


def builtin_action(action_id: str) -> Action | None:
    return next((action for action in BUILTIN_ACTIONS if action.id == action_id), None)


class PromptEntry(Protocol):
    """A config ``prompts:`` entry (``config.schema.PromptConfig``)."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str | None: ...

    @property
    def prompt(self) -> str: ...


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "prompt"


def action_from_prompt(entry: PromptEntry) -> Action:
    """A config ``prompts:`` entry as an edit action (id ``prompt.<slug>``).

    The entry's ``prompt`` is the instruction; its title is the name, with the
    description after a dash when there is one.
    """
    title = f"ByteBuddy: {entry.name}"
    if entry.description:
        title += f" — {entry.description}"
    return Action(
        id=f"prompt.{_slug(entry.name)}",
        title=title,
        kind="refactor.rewrite",
        instruction=entry.prompt.strip(),
    )


def all_actions(prompts: Iterable[PromptEntry] = ()) -> list[Action]:
    """The built-in actions followed by one per config prompt (first of a duplicate id)."""
    actions = list(BUILTIN_ACTIONS)
    seen = {action.id for action in actions}
    for entry in prompts:
        action = action_from_prompt(entry)
        if action.id not in seen:
            seen.add(action.id)
            actions.append(action)
    return actions


def path_for_tests(path: str, language: str | None = None) -> str:
    """Where tests for ``path`` go by the language's usual convention (same folder)."""
    source = PurePosixPath(path.replace("\\", "/"))
    stem, suffix = source.stem, source.suffix
    lang = (language or "").lower()
    if lang == "python" or suffix == ".py":
        name = f"test_{stem}.py"
    elif lang == "go" or suffix == ".go":
        name = f"{stem}_test.go"
    elif suffix in (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs"):
        name = f"{stem}.test{suffix}"
    elif lang == "ruby" or suffix == ".rb":
        name = f"{stem}_spec.rb"
    elif suffix in (".java", ".kt", ".cs", ".swift", ".php"):
        name = f"{stem}Test{suffix}"
    else:
        name = f"{stem}_test{suffix}"
    return str(source.with_name(name))


# ---------------------------------------------------------------------------
# Edit prompt


@dataclass(frozen=True)
class EditRequest:
    """What the edit model needs. ``prefix``/``suffix`` may be the whole rest of the
    file: the builders keep only the MAX_SURROUNDING_CHARS nearest the selection."""

    instruction: str
    code: str
    language: str | None = None
    path: str | None = None
    prefix: str = ""
    suffix: str = ""
    diagnostics: Sequence[str] = field(default_factory=tuple)


EDIT_SYSTEM_PROMPT = (
    "You are an expert programmer editing code in the user's editor. You get a file "
    "path, the code around the selection for context, the selected code and an "
    "instruction. Rewrite the selected code to follow the instruction.\n"
    "Reply with ONLY the rewritten selection in a single fenced code block: no "
    "explanation, no code from before or after the selection, no placeholders such as "
    "'... existing code ...'. Keep the original indentation and style, and keep every "
    "part of the selection the instruction does not ask to change. If the instruction "
    "cannot be followed, reply with one short sentence and no code block."
)

NEW_FILE_SYSTEM_PROMPT = (
    "You are an expert programmer. Follow the instruction about the selected code. "
    "Reply with ONLY the complete new file in a single fenced code block, no explanation."
)

EXPLAIN_SYSTEM_PROMPT = (
    "You are an expert programmer explaining code to a colleague in their editor. "
    "Answer in Markdown; quote code only where it helps."
)


def tail_lines(text: str, max_chars: int) -> str:
    """The last whole lines of ``text`` within ``max_chars`` (the part nearest below)."""
    if len(text) <= max_chars:
        return text
    return "".join(reversed(_lines_within(reversed(split_lines(text)), max_chars)))


def head_lines(text: str, max_chars: int) -> str:
    """The first whole lines of ``text`` within ``max_chars``."""
    if len(text) <= max_chars:
        return text
    return "".join(_lines_within(split_lines(text), max_chars))


def _lines_within(lines: Iterable[str], max_chars: int) -> list[str]:
    """The leading ``lines`` whose total length stays within ``max_chars``."""
    kept: list[str] = []
    size = 0
    for line in lines:
        size += len(line)
        if size > max_chars:
            break
        kept.append(line)
    return kept


def _bounded(request: EditRequest) -> tuple[str, str]:
    return (
        tail_lines(request.prefix, MAX_SURROUNDING_CHARS),
        head_lines(request.suffix, MAX_SURROUNDING_CHARS),
    )


def _file_label(path: str | None, language: str | None) -> str:
    label = f"`{path}`" if path else "an unsaved file"
    return f"{label} ({language})" if language else label


def _diagnostics_text(diagnostics: Sequence[str]) -> str:
    return "\n".join(f"- {message.strip()}" for message in diagnostics if message.strip())


def edit_user_message(request: EditRequest, action: Action | None = None) -> str:
    """The user turn for an edit (or another action on a selection)."""
    prefix, suffix = _bounded(request)
    language = request.language
    parts = [f"File: {_file_label(request.path, language)}"]
    if prefix.strip():
        parts.append(f"Code before the selection (context only):\n{fenced(prefix, language)}")
    if request.code.strip():
        parts.append(f"Selected code:\n{fenced(request.code, language)}")
    else:
        parts.append("Nothing is selected: write the code to insert at the cursor.")
    if suffix.strip():
        parts.append(f"Code after the selection (context only):\n{fenced(suffix, language)}")
    diagnostics = _diagnostics_text(request.diagnostics)
    if diagnostics:
        parts.append(f"Diagnostics in the selection:\n{diagnostics}")
    parts.append(f"Instruction: {request.instruction.strip()}")
    result = action.result if action is not None else "edit"
    if result == "edit":
        tag = language or ""
        parts.append(f"Reply with only the rewritten selected code in one ```{tag} block.")
    elif result == "new_file":
        parts.append("Reply with only the complete file in one fenced code block.")
    return "\n\n".join(parts)


def build_edit_messages(
    request: EditRequest, *, action: Action | None = None, system_prompt: str | None = None
) -> list[Message]:
    """Chat messages for an edit, or for ``action`` on the selection (its ``result``
    picks the system prompt: rewrite the selection, write a new file, or explain)."""
    result = action.result if action is not None else "edit"
    default = {
        "edit": EDIT_SYSTEM_PROMPT,
        "new_file": NEW_FILE_SYSTEM_PROMPT,
        "chat": EXPLAIN_SYSTEM_PROMPT,
    }[result]
    return [
        ("system", system_prompt if system_prompt is not None else default),
        ("user", edit_user_message(request, action)),
    ]


def action_request(
    action: Action,
    *,
    code: str,
    language: str | None = None,
    path: str | None = None,
    prefix: str = "",
    suffix: str = "",
    diagnostics: Sequence[str] = (),
) -> EditRequest:
    """The EditRequest that runs ``action`` on a selection."""
    return EditRequest(
        instruction=action.instruction,
        code=code,
        language=language,
        path=path,
        prefix=prefix,
        suffix=suffix,
        diagnostics=tuple(diagnostics),
    )


def edit_template_variables(request: EditRequest) -> dict[str, str]:
    prefix, suffix = _bounded(request)
    diagnostics = _diagnostics_text(request.diagnostics)
    return {
        "userInput": request.instruction,
        "input": request.instruction,
        "instruction": request.instruction,
        "codeToEdit": request.code,
        "code": request.code,
        **_file_variables(request.language, request.path),
        "prefix": prefix,
        "suffix": suffix,
        "diagnostics": diagnostics,
    }


def render_edit_prompt(
    request: EditRequest,
    *,
    template: str | None = None,
    model_id: str | None = None,
    action: Action | None = None,
) -> str:
    """The edit prompt as text: ``promptTemplates.edit`` filled in, or the chat messages
    rendered in the format ``model_id`` suggests (see ``chat.chat_format_for``)."""
    if template:
        return render_template(template, edit_template_variables(request))
    return render_messages(build_edit_messages(request, action=action), chat_format_for(model_id))


# ---------------------------------------------------------------------------
# Apply prompt


@dataclass(frozen=True)
class ApplyRequest:
    """Merge ``code`` into ``document``; ``region`` (0-based lines, end-exclusive, as
    planned by ``merge.plan_apply``) limits the merge to that part of the file."""

    document: str
    code: str
    language: str | None = None
    path: str | None = None
    region: tuple[int, int] | None = None

    @property
    def original(self) -> str:
        if self.region is None:
            return self.document
        start, end = self.region
        return "".join(split_lines(self.document)[start:end])


APPLY_SYSTEM_PROMPT = (
    "You merge a code change into existing code. The change may leave out unchanged "
    "parts with placeholder comments such as '// ... existing code ...' or '# ...'. "
    "Produce the complete updated code: apply the change, replace every placeholder "
    "with the original code it stands for, and keep everything the change does not "
    "touch exactly as it is (order, formatting, comments). Reply with ONLY the result in "
    "a single fenced code block: no explanation, no placeholders, nothing left out."
)


def apply_user_message(request: ApplyRequest) -> str:
    language = request.language
    if request.region is None:
        what = f"The file {_file_label(request.path, language)}"
        answer = "the complete updated file"
    else:
        start, end = request.region
        what = f"Lines {start + 1}-{end} of {_file_label(request.path, language)}"
        answer = f"the complete updated lines {start + 1}-{end}"
    return (
        f"{what}:\n{fenced(request.original, language)}\n\n"
        f"The change to apply:\n{fenced(request.code, language)}\n\n"
        f"Reply with {answer} in one fenced code block."
    )


def build_apply_messages(
    request: ApplyRequest, *, system_prompt: str | None = None
) -> list[Message]:
    return [
        ("system", system_prompt if system_prompt is not None else APPLY_SYSTEM_PROMPT),
        ("user", apply_user_message(request)),
    ]


def apply_template_variables(request: ApplyRequest) -> dict[str, str]:
    return {
        "originalCode": request.original,
        "original_code": request.original,
        "newCode": request.code,
        "new_code": request.code,
        **_file_variables(request.language, request.path),
    }


def _file_variables(language: str | None, path: str | None) -> dict[str, str]:
    """The template variables naming the file, alike for edit and apply prompts."""
    return {"language": language or "", "filepath": path or "", "filename": path or ""}


def render_apply_prompt(
    request: ApplyRequest, *, template: str | None = None, model_id: str | None = None
) -> str:
    """The apply prompt as text: ``promptTemplates.apply`` filled in, or the messages
    rendered in the format ``model_id`` suggests."""
    if template:
        return render_template(template, apply_template_variables(request))
    return render_messages(build_apply_messages(request), chat_format_for(model_id))
