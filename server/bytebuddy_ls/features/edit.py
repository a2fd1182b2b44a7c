"""``bytebuddy.edit {uri, range, instruction}``: rewrite a selection with the edit model.

An edit replaces exactly the selection: the answer's code is extracted (fences and
prose stripped), re-indented to the selection, and sent as one ``TextEdit`` over the
selection's range; nothing outside it changes. An empty range selects the enclosing
function or block. An answer without code is reported with ``window/showMessage`` and
nothing is applied. Upstream failures answer the request with an LSP error
(RequestFailed) carrying the user-facing message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..documents import Document
from ..lsp_types import EDIT_COMMAND, EditArgs
from ..prompting.edit import Action, EditRequest, build_edit_messages, render_edit_prompt
from ..prompting.extract import code_for_selection
from .ask import answer_tokens_for, ask_model
from .selection import Selection, selection_for
from .workspace import Snapshot, display_path, require_document, send_workspace_edit, show_message

if TYPE_CHECKING:
    from ..server import ByteBuddyServer


@dataclass(frozen=True)
class EditOutcome:
    """The replacement for a selection (``new_text`` None: the answer had no code)."""

    selection: Selection
    new_text: str | None
    model: str
    answer: str


async def compute_edit(
    server: ByteBuddyServer,
    document: Document,
    selection: Selection,
    *,
    instruction: str,
    action: Action | None = None,
    diagnostics: Sequence[str] = (),
    title: str = "ByteBuddy: editing",
) -> EditOutcome:
    """Ask the edit model to rewrite ``selection`` and fit its code to replace it."""
    text = document.text
    language = document.language_id or None
    request = EditRequest(
        instruction=instruction,
        code=selection.text,
        language=language,
        path=display_path(server, document.uri),
        prefix=text[: selection.start],
        suffix=text[selection.end :],
        diagnostics=tuple(diagnostics),
    )
    answer, model = await ask_model(
        server,
        "edit",
        build_edit_messages(request, action=action),
        render_prompt=lambda template, m: render_edit_prompt(
            request, template=template, model_id=m.model, action=action
        ),
        max_tokens=answer_tokens_for(selection.text),
        title=title,
    )
    new_text = code_for_selection(
        answer,
        selection=selection.text,
        language=language,
        line_prefix=selection.line_prefix,
        document=text,
    )
    return EditOutcome(selection, new_text, model.name, answer)


async def _with_workspace_code(
    server: ByteBuddyServer, instruction: str
) -> tuple[str, dict[str, Any] | None]:
    """``@workspace``/``@file`` in an instruction: the code they name goes in front of
    it (within ``context.maxTokens``). Returns the instruction to send and a summary of
    what was added (None without mentions)."""
    from ..prompting.chat import references_block
    from ..workspace.engine import workspace_references

    engine = server.context_engine
    [(_, text)], mentioned = workspace_references(engine, [("user", instruction)])
    if mentioned is None:
        return instruction, None
    references = await mentioned.gather(engine.options.max_tokens)
    if references:
        text = f"{references_block(references)}\n\n{text}"
    return text, mentioned.summary()


def no_code_message(model: str) -> str:
    return f"ByteBuddy: the model '{model}' answered without code; nothing was changed."


async def run_edit(server: ByteBuddyServer, args: EditArgs) -> dict[str, Any]:
    instruction = (args.instruction or "").strip()
    if not instruction:
        # LSP has no text prompt: the client asks the user, then sends the command.
        raise JsonRpcInvalidParams(
            f"{EDIT_COMMAND} needs an instruction: the editor should ask for one"
        )
    document = await require_document(server, args.uri)
    selection = selection_for(document, args.range)
    snapshot = Snapshot.of(document)
    instruction, added = await _with_workspace_code(server, instruction)
    outcome = await compute_edit(server, document, selection, instruction=instruction)
    if outcome.new_text is None:
        show_message(server, no_code_message(outcome.model), types.MessageType.Warning)
        return {"applied": False, "model": outcome.model, "reason": "no code in the answer"}
    if outcome.new_text == selection.text:
        return {"applied": False, "model": outcome.model, "reason": "no change"}
    text_edit = types.TextEdit(range=selection.range, new_text=outcome.new_text)
    applied = await send_workspace_edit(
        server, snapshot.workspace_edit(server, [text_edit]), "ByteBuddy edit"
    )
    result: dict[str, Any] = {"applied": applied, "model": outcome.model}
    if added is not None:
        result["context"] = added  # what @workspace/@file added to the instruction
    return result


def register(server: ByteBuddyServer) -> None:
    # Like every command (apply's too): a typed handler whose task ends with its request.
    @server.command(EDIT_COMMAND)
    async def edit(args: EditArgs) -> dict[str, Any]:
        server.protocol.cancel_task_with_request()
        return await run_edit(server, args)
