"""AI code actions: ``textDocument/codeAction`` lists, ``codeAction/resolve`` runs the model.

Listing is instant and never calls a model: each action carries in ``data`` what
resolve needs (action id, uri, range, document version, diagnostics' messages).
Clients whose ``resolveSupport`` does not cover ``edit`` get a command instead,
``bytebuddy.runAction {id, uri, range, version?, diagnostics?}``, which runs the model
and applies the result with ``workspace/applyEdit``. Every action is tagged
``CodeActionTag.LlmGenerated``.

Actions (see ``prompting.edit.BUILTIN_ACTIONS``): Fix (only with diagnostics in the
range; their messages go to the model), Add docstring/comments, Refactor/improve,
Write tests, Explain, one per config ``prompts:`` entry, and "Edit with instruction…"
(the command ``bytebuddy.edit {uri, range}``; the client asks for the instruction).

- Write tests: a new file next to the source (``CreateFile`` + ``TextDocumentEdit``)
  when the client supports ``resourceOperations: [create]``; appended to that file when
  it exists; otherwise appended to the current document.
- Explain is always a ``bytebuddy.runAction`` command (it changes no text): the chat
  model's answer is written to a Markdown file in a temporary folder and opened with
  ``window/showDocument``, or shown with ``window/showMessage`` when the client cannot
  show documents. The command's result is ``{content, model, uri?}``.
- Automatic requests (a lightbulb on every cursor move) with an empty range and no
  diagnostics list nothing; invoked ones (Ctrl+., ``vim.lsp.buf.code_action``) list all.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import from_fs_path

from ..documents import Document
from ..log import logger
from ..lsp_types import EDIT_COMMAND, RUN_ACTION_COMMAND, EditArgs, RunActionArgs
from ..prompting.edit import (
    Action,
    action_request,
    all_actions,
    build_edit_messages,
    path_for_tests,
)
from ..prompting.extract import extract_code
from ..prompting.lines import detect_eol, normalize_eol
from .ask import answer_tokens_for, ask_model
from .edit import compute_edit, no_code_message
from .errors import request_failed
from .selection import selection_for
from .workspace import (
    Snapshot,
    display_path,
    document_for,
    path_of,
    require_document,
    resolves_code_action_edits,
    send_workspace_edit,
    show_message,
    shows_documents,
    supports_create_file,
    workspace_edit_for,
)

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

EDIT_ACTION_TITLE = "ByteBuddy: Edit with instruction…"
# The longest answer window/showMessage gets when the client cannot show a document.
MAX_MESSAGE_CHARS = 4000
_WARNING = types.MessageType.Warning

_explain_counter = itertools.count(1)


def _kind_matches(kind: str, only: list[str] | None) -> bool:
    if not only:
        return True
    if not kind:
        return False
    return any(kind == wanted or kind.startswith(f"{wanted}.") for wanted in only)


def current_actions(server: ByteBuddyServer) -> list[Action]:
    loaded = server.config.loaded
    return all_actions(loaded.config.prompts if loaded else ())


def list_actions(server: ByteBuddyServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """The actions for a range; cheap, no model call."""
    uri = params.text_document.uri
    document = server.documents.get(uri)
    if document is None or not server.config.chain("edit"):
        return []
    context = params.context
    diagnostics = list(context.diagnostics or [])
    empty = params.range.start == params.range.end
    if context.trigger_kind == types.CodeActionTriggerKind.Automatic and empty and not diagnostics:
        return []
    only = [str(kind) for kind in context.only] if context.only else None
    resolves = resolves_code_action_edits(server)
    messages = [d.message for d in diagnostics if d.message.strip()]
    listed: list[types.CodeAction] = []
    for action in current_actions(server):
        if action.needs_diagnostics and not diagnostics:
            continue
        if not _kind_matches(action.kind, only):
            continue
        payload = RunActionArgs(
            id=action.id,
            uri=uri,
            range=params.range,
            version=document.version,
            diagnostics=messages if action.needs_diagnostics else [],
        )
        code_action = types.CodeAction(
            title=action.title,
            kind=action.kind or None,
            tags=[types.CodeActionTag.LlmGenerated],
            diagnostics=diagnostics if action.needs_diagnostics else None,
        )
        if resolves and action.result != "chat":
            code_action.data = payload
        else:
            code_action.command = types.Command(
                title=action.title, command=RUN_ACTION_COMMAND, arguments=[payload]
            )
        listed.append(code_action)
    if _kind_matches(types.CodeActionKind.RefactorRewrite, only):
        listed.append(
            types.CodeAction(
                title=EDIT_ACTION_TITLE,
                kind=types.CodeActionKind.RefactorRewrite,
                tags=[types.CodeActionTag.LlmGenerated],
                command=types.Command(
                    title=EDIT_ACTION_TITLE,
                    command=EDIT_COMMAND,
                    arguments=[EditArgs(uri=uri, range=params.range)],
                ),
            )
        )
    return listed


@dataclass(frozen=True)
class ActionResult:
    """A run action's outcome: an edit to apply, or an answer to show."""

    model: str
    edit: types.WorkspaceEdit | None = None
    content: str | None = None  # Explain's answer
    reason: str | None = None  # why there is nothing to apply


def _find_action(server: ByteBuddyServer, action_id: str) -> Action:
    action = next((a for a in current_actions(server) if a.id == action_id), None)
    if action is None:
        raise JsonRpcInvalidParams(f"unknown ByteBuddy action '{action_id}'")
    return action


async def run_action(server: ByteBuddyServer, args: RunActionArgs) -> ActionResult:
    """Run an action's model and turn the answer into an edit (or an answer to show).
    Raises RequestFailed when the model fails or the document moved on."""
    action = _find_action(server, args.id)
    document = require_document(server, args.uri)
    stale = args.version is not None and document.version not in (None, args.version)
    if stale:
        raise request_failed("The document changed since the action was offered; run it again.")
    selection = selection_for(document, args.range)
    snapshot = Snapshot.of(document)
    before = snapshot.text
    title = f"{action.title}…"
    if action.result == "chat":
        request = action_request(
            action,
            code=selection.text,
            language=document.language_id or None,
            path=display_path(server, document.uri),
            prefix=before[: selection.start],
            suffix=before[selection.end :],
        )
        answer, model = await ask_model(
            server,
            "chat",
            build_edit_messages(request, action=action),
            title=title,
            operation=action.id,
        )
        return ActionResult(model.name, content=answer)
    if action.result == "new_file":
        return await _write_tests(server, document, selection.text, selection.start, action)
    outcome = await compute_edit(
        server,
        document,
        selection,
        instruction=action.instruction,
        action=action,
        diagnostics=args.diagnostics,
        title=title,
    )
    if outcome.new_text is None:
        return ActionResult(outcome.model, reason=no_code_message(outcome.model))
    if outcome.new_text == selection.text:
        return ActionResult(outcome.model, reason="ByteBuddy: the model changed nothing.")
    text_edit = types.TextEdit(range=selection.range, new_text=outcome.new_text)
    return ActionResult(outcome.model, edit=snapshot.workspace_edit(server, [text_edit]))


async def _write_tests(
    server: ByteBuddyServer, document: Document, code: str, start: int, action: Action
) -> ActionResult:
    text = document.text
    language = document.language_id or None
    source_path = path_of(document.uri)
    request = action_request(
        action,
        code=code,
        language=language,
        path=display_path(server, document.uri),
        prefix=text[:start],
        suffix=text[start + len(code) :],
    )
    answer, model = await ask_model(
        server,
        "edit",
        build_edit_messages(request, action=action),
        max_tokens=answer_tokens_for(code) * 2,
        title=f"{action.title}…",
        operation=action.id,
    )
    tests = extract_code(answer, language=language)
    if tests is None:
        return ActionResult(model.name, reason=no_code_message(model.name))
    eol = detect_eol(text)
    tests = normalize_eol(tests, eol) + eol
    target = path_for_tests(source_path, language) if source_path else None
    if target is not None and Path(target).is_file():
        existing = document_for(server, from_fs_path(target) or "")
        if existing is not None:
            return ActionResult(model.name, edit=_append(server, existing, tests))
    if target is not None and supports_create_file(server):
        uri = from_fs_path(target) or ""
        edit = types.WorkspaceEdit(
            document_changes=[
                types.CreateFile(
                    uri=uri, options=types.CreateFileOptions(overwrite=False, ignore_if_exists=True)
                ),
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=None
                    ),
                    edits=[
                        types.TextEdit(
                            range=types.Range(
                                start=types.Position(line=0, character=0),
                                end=types.Position(line=0, character=0),
                            ),
                            new_text=tests,
                        )
                    ],
                ),
            ]
        )
        return ActionResult(model.name, edit=edit)
    return ActionResult(model.name, edit=_append(server, document, tests))


def _append(server: ByteBuddyServer, document: Document, block: str) -> types.WorkspaceEdit:
    """``block`` added at the end of ``document``, after one blank line."""
    text = document.text
    eol = detect_eol(text)
    separator = "" if not text else (eol if text.endswith(("\n", "\r")) else eol * 2)
    end = document.position_at(len(text))
    edit = types.TextEdit(range=types.Range(start=end, end=end), new_text=separator + block)
    return workspace_edit_for(server, document, [edit])


def _explanation_file(server: ByteBuddyServer, document: Document, answer: str) -> str:
    """Write the answer to a Markdown file in a per-process temporary folder; its URI."""
    import tempfile  # (its imports cost start-up time; explaining is rare)

    folder = Path(tempfile.gettempdir()) / f"bytebuddy-ls-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(path_of(document.uri) or "untitled").stem or "untitled"
    path = folder / f"explain-{stem}-{next(_explain_counter)}.md"
    shown = display_path(server, document.uri) or document.uri
    path.write_text(f"# ByteBuddy: {shown}\n\n{answer.strip()}\n", encoding="utf-8")
    return from_fs_path(str(path)) or path.as_uri()


async def _show_answer(server: ByteBuddyServer, document: Document, answer: str) -> str | None:
    if shows_documents(server):
        try:
            uri = _explanation_file(server, document, answer)
            shown = await server.window_show_document_async(
                types.ShowDocumentParams(uri=uri, take_focus=True)
            )
            if shown is not None and shown.success:
                return uri
        except Exception:  # fall back to a message
            logger.debug("showDocument failed", exc_info=True)
    text = answer.strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + " …"
    show_message(server, text, types.MessageType.Info)
    return None


def register(server: ByteBuddyServer) -> None:
    options = types.CodeActionOptions(
        code_action_kinds=[
            types.CodeActionKind.QuickFix,
            types.CodeActionKind.RefactorRewrite,
            types.CodeActionKind.Source,
        ],
        resolve_provider=True,
    )

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)
    def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        return list_actions(server, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(action: types.CodeAction) -> types.CodeAction:
        data = action.data
        if not isinstance(data, dict) or "id" not in data:
            return action  # not ours, or already complete
        args = server.protocol.structure(data, RunActionArgs)
        result = await run_action(server, args)
        if result.edit is None:
            show_message(server, result.reason or "ByteBuddy: nothing to change.", _WARNING)
            return action
        action.edit = result.edit
        return action

    @server.command(RUN_ACTION_COMMAND)
    async def run(args: RunActionArgs) -> dict[str, Any]:
        server.protocol.cancel_task_with_request()
        result = await run_action(server, args)
        answer: dict[str, Any] = {"model": result.model}
        if result.content is not None:
            document = require_document(server, args.uri)
            answer["content"] = result.content
            shown = await _show_answer(server, document, result.content)
            if shown:
                answer["uri"] = shown
            return answer
        if result.edit is None:
            show_message(server, result.reason or "ByteBuddy: nothing to change.", _WARNING)
            answer.update(applied=False, reason=result.reason)
            return answer
        answer["applied"] = await send_workspace_edit(server, result.edit, "ByteBuddy action")
        return answer
