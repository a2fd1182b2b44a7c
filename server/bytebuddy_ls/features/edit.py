"""``bytebuddy.edit {uri, range, instruction}``: rewrite a selection with the edit model.

Also the pieces every model-driven edit shares (code actions and apply use them):
finding the document, turning a range (or an empty one) into a selection, asking a
role's model with progress and error reporting, and sending ``workspace/applyEdit``.

An edit replaces exactly the selection: the answer's code is extracted (fences and
prose stripped), re-indented to the selection, and sent as one ``TextEdit`` over the
selection's range; nothing outside it changes. An answer without code is reported
with ``window/showMessage`` and nothing is applied. Upstream failures answer the
request with an LSP error (RequestFailed) carrying the user-facing message.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pydantic import BaseModel, ValidationError
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import to_fs_path

from ..config import ModelConfig, Role
from ..documents import Document, language_for_path
from ..files import FileReadError, read_workspace_file
from ..inference import ChatMessage, GenerationParams, InferenceError
from ..log import logger
from ..prompting.chat import Message
from ..prompting.edit import (
    Action,
    EditRequest,
    build_edit_messages,
    render_edit_prompt,
)
from ..prompting.extract import code_for_selection
from ..prompting.tokens import estimate_tokens
from .progress import RequestProgress

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

EDIT_COMMAND = "bytebuddy.edit"
# LSP's RequestFailed: the request was valid but could not be carried out.
REQUEST_FAILED = -32803
# How long to wait for the client to answer workspace/applyEdit.
APPLY_EDIT_TIMEOUT_S = 60.0
# Answer size asked for when the config sets no maxTokens: room to rewrite the input
# (twice its size, for added docs/comments) within sane bounds.
MIN_ANSWER_TOKENS = 512
MAX_ANSWER_TOKENS = 4096
# Lines scanned upwards for the enclosing function of an empty selection.
MAX_SCAN_LINES = 2000


class RequestFailed(JsonRpcException):
    CODE = REQUEST_FAILED


def request_failed(message: str) -> RequestFailed:
    return RequestFailed(message=message, code=REQUEST_FAILED)


def follow_request_cancellation(server: ByteBuddyServer) -> None:
    """Make ``$/cancelRequest`` of a ``workspace/executeCommand`` cancel the command.

    pygls runs a command handler as a task of its own and cancels only the request's
    outer future; without this link the model call would go on and its edit would be
    applied after the user cancelled. Call at the start of an async command handler.
    """
    protocol: Any = server.protocol
    msg_id = protocol.msg_id  # the executeCommand request's id (a context variable)
    outer = protocol._request_futures.get(msg_id) if msg_id is not None else None
    task = asyncio.current_task()
    if outer is None or task is None:
        return

    def on_done(future: Any) -> None:
        if future.cancelled() and not task.done():
            task.cancel()

    outer.add_done_callback(on_done)


# ---------------------------------------------------------------------------
# Documents


def path_of(uri: str) -> str | None:
    """The file-system path of a ``file:`` URI, else None."""
    if not uri.startswith("file:"):
        return None
    try:
        return to_fs_path(uri)
    except Exception:  # a malformed URI is just "no path"
        return None


async def document_for(server: ByteBuddyServer, uri: str) -> Document | None:
    """The open document, else a regular file inside a workspace folder (read once in a
    worker thread, version unknown; see ``files``), else None for a URI that is not a
    file. A file that may not be read raises JsonRpcInvalidParams saying why."""
    document = server.documents.get(uri)
    if document is not None:
        return document
    path = path_of(uri)
    if path is None:
        return None
    folders = server.config.workspace_folders or (
        [server.config.workspace_root] if server.config.workspace_root else []
    )
    try:
        text = await read_workspace_file(Path(path), folders)
    except FileReadError as exc:
        raise JsonRpcInvalidParams(str(exc)) from None
    language = language_for_path(Path(path)) or ""
    return Document(uri, text, None, language, encoding=server.documents.encoding)


async def require_document(server: ByteBuddyServer, uri: str) -> Document:
    document = await document_for(server, uri)
    if document is None:
        raise JsonRpcInvalidParams(f"unknown document {uri}: open it in the editor first")
    return document


def display_path(server: ByteBuddyServer, uri: str) -> str | None:
    """The path shown to the model: relative to the workspace root when inside it."""
    path = path_of(uri)
    if path is None:
        return None
    root = server.config.workspace_root
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return path


# ---------------------------------------------------------------------------
# Selections


@dataclass(frozen=True)
class Selection:
    """A span of a document, as code-point offsets and as the client's range."""

    start: int
    end: int
    range: types.Range
    text: str
    line_prefix: str  # the text on the start line before the selection


_FUNCTION_HEADER = re.compile(
    r"^\s*(?:(?:export|default|pub(?:\([^)]*\))?|public|private|protected|internal|static|"
    r"async|override|final|abstract|inline|local|extern|unsafe|const|open)\s+)*"
    r"(?:def|class|function\*?|func|fn|sub|impl|trait|struct|interface|enum|module|"
    r"procedure|macro_rules!)\b"
)
# A line that opens a block: ends with ":" (Python), "{" or "=>" / "->" openers.
_BLOCK_OPENER = re.compile(r"(?::|\{|\bdo|\bthen|=>\s*\{?|->)\s*(?:#.*|//.*)?$")
_CLOSERS = ("}", ")", "]", "end", "fi", "done", "esac", "</")


def _indent(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


def _block_end(lines: Sequence[str], header: int) -> int:
    """End (exclusive) of the block opened at ``header``: deeper-indented lines, plus a
    closing line (``}``, ``end``…) at the header's indentation."""
    base = _indent(lines[header])
    last = header
    for index in range(header + 1, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        if _indent(line) > base:
            last = index
            continue
        if _indent(line) == base and line.strip().startswith(_CLOSERS):
            last = index
        break
    return last + 1


def _with_decorators(lines: Sequence[str], header: int) -> int:
    """Move a Python/TS/Java header up over the decorators/annotations right above it."""
    base = _indent(lines[header])
    start = header
    while (
        start > 0
        and lines[start - 1].lstrip().startswith("@")
        and (_indent(lines[start - 1]) == base)
    ):
        start -= 1
    return start


def enclosing_block(lines: Sequence[str], line: int) -> tuple[int, int]:
    """The lines ``[start, end)`` of the function (or else the innermost block) around
    ``line``, by indentation; just ``line`` when it is in none.

    Headers are recognised by keyword (``def``, ``function``, ``fn``, ``class``…) or by
    ending in a block opener (``:``, ``{``); a header's block is every following line
    indented deeper, plus a closing line at the header's own indentation.
    """
    if not lines:
        return 0, 0
    line = max(0, min(line, len(lines) - 1))
    anchor = line
    while anchor > 0 and not lines[anchor].strip():
        anchor -= 1  # a blank line belongs to the code above it
    if not lines[anchor].strip():
        return line, line + 1
    innermost: tuple[int, int] | None = None
    limit = max(-1, anchor - MAX_SCAN_LINES)
    depth = _indent(lines[anchor]) + 1  # the anchor itself may be a header
    for index in range(anchor, limit, -1):
        text = lines[index]
        if not text.strip() or _indent(text) >= depth:
            continue
        depth = _indent(text)
        is_function = _FUNCTION_HEADER.match(text) is not None
        if is_function or _BLOCK_OPENER.search(text.rstrip()) is not None:
            end = _block_end(lines, index)
            if end > line or index == line:  # else: a block that ended above the cursor
                span = (_with_decorators(lines, index), max(end, index + 1))
                if is_function:
                    return span
                innermost = innermost or span
        if depth == 0:
            break
    return innermost or (line, line + 1)


def selection_for(document: Document, range_: types.Range) -> Selection:
    """The selection ``range_`` covers; an empty range selects the enclosing function or
    block (see :func:`enclosing_block`), or the whole line."""
    text = document.text
    start = document.offset_at(range_.start)
    end = document.offset_at(range_.end)
    if end < start:
        start, end = end, start
    if start == end:
        lines = text.split("\n")
        cursor_line = text.count("\n", 0, start)
        first, last = enclosing_block(lines, cursor_line)
        start = document.line_start(first)
        end = document.line_start(last) if last < len(lines) else len(text)
        if end < start:
            end = len(text)
    line_start = text.rfind("\n", 0, start) + 1
    return Selection(
        start=start,
        end=end,
        range=types.Range(start=document.position_at(start), end=document.position_at(end)),
        text=text[start:end],
        line_prefix=text[line_start:start],
    )


# ---------------------------------------------------------------------------
# Asking a role's model


def answer_tokens_for(text: str) -> int:
    """A max-tokens value that lets the model rewrite ``text`` without being cut off."""
    return max(MIN_ANSWER_TOKENS, min(MAX_ANSWER_TOKENS, 2 * estimate_tokens(text) + 256))


def no_model_message(server: ByteBuddyServer, role: Role) -> str:
    if server.config.loaded is None:
        return (
            "bytebuddy-ls has no model config: create ~/.bytebuddy/config.yaml "
            "(see config.example.yaml) or set the editor setting 'configPath'."
        )
    from ..config.roles import disabled_reason

    disabled = disabled_reason(server.config.loaded.config, role)
    if disabled:  # e.g. an untrusted workspace config: say so, not "add a model"
        return f"No usable model for the '{role}' role: {disabled}"
    return (
        f"No model serves the '{role}' role: add `roles: [{role}]` (or chat) to a model "
        "in the config."
    )


async def ask_model(
    server: ByteBuddyServer,
    role: Role,
    messages: Sequence[Message],
    *,
    render_prompt: Callable[[str, ModelConfig], str] | None = None,
    max_tokens: int | None = None,
    title: str,
    chain: Sequence[ModelConfig] | None = None,
) -> tuple[str, ModelConfig]:
    """The answer of ``role``'s fallback chain to ``messages``, and the model that gave it.

    The chat route is used (the server applies the model's chat template) unless the
    first model sets ``promptTemplates.<role>``: then ``render_prompt(template, model)``
    is sent to the text-generation route. Waits show as status and work-done progress;
    failures raise RequestFailed with the user-facing message (auth problems are also
    shown once, by RequestProgress).
    """
    models = list(chain) if chain is not None else server.config.chain(role)
    if not models:
        raise request_failed(no_model_message(server, role))
    first = models[0]
    template = getattr(first.promptTemplates, role, None)
    progress = RequestProgress(server, role=role, title=title)
    progress.start(first.name)

    def params_for(model: ModelConfig) -> GenerationParams:
        configured = model.defaultCompletionOptions.maxTokens
        return GenerationParams.for_model(model, max_tokens=None if configured else max_tokens)

    try:
        if template and render_prompt is not None:
            prompt = render_prompt(template, first)
            text, served = await server.inference.generate_chain(
                models, prompt, params_for, on_wait=progress.on_wait
            )
        else:
            chat = [ChatMessage(role=r, content=c) for r, c in messages]
            text, served = await server.inference.chat_chain(
                models, chat, params_for, on_wait=progress.on_wait
            )
    except InferenceError as error:
        progress.finish(error)
        raise request_failed(error.user_message) from None
    except BaseException:
        progress.finish()
        raise
    progress.finish(model=served.name)
    return text, served


# ---------------------------------------------------------------------------
# Applying edits


def _client_capabilities(server: ByteBuddyServer) -> Any:
    return server.client_capabilities


def supports_document_changes(server: ByteBuddyServer) -> bool:
    workspace = getattr(_client_capabilities(server), "workspace", None)
    workspace_edit = getattr(workspace, "workspace_edit", None)
    return bool(getattr(workspace_edit, "document_changes", False))


def supports_create_file(server: ByteBuddyServer) -> bool:
    workspace = getattr(_client_capabilities(server), "workspace", None)
    workspace_edit = getattr(workspace, "workspace_edit", None)
    operations = getattr(workspace_edit, "resource_operations", None) or []
    return supports_document_changes(server) and types.ResourceOperationKind.Create in operations


def workspace_edit_for(
    server: ByteBuddyServer, document: Document, edits: Sequence[types.TextEdit]
) -> types.WorkspaceEdit:
    """Edits of one document; versioned (the client refuses a stale edit) when the
    client takes ``documentChanges`` and the document is open."""
    if supports_document_changes(server):
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=document.uri, version=document.version
                    ),
                    edits=list(edits),
                )
            ]
        )
    return types.WorkspaceEdit(changes={document.uri: list(edits)})


def ensure_unchanged(document: Document, version: int | None, text: str) -> None:
    """Refuse to apply edits computed for an older state of the document."""
    if document.version != version or document.text != text:
        raise request_failed(
            "The document changed while the model was working; nothing was applied. "
            "Run the action again."
        )


async def send_workspace_edit(
    server: ByteBuddyServer, edit: types.WorkspaceEdit, label: str
) -> bool:
    """``workspace/applyEdit``; False (with a message) when the client refuses it."""
    try:
        result = await asyncio.wait_for(
            server.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(edit=edit, label=label)
            ),
            APPLY_EDIT_TIMEOUT_S,
        )
    except asyncio.TimeoutError:
        raise request_failed("The editor did not answer workspace/applyEdit.") from None
    if result is None or not result.applied:
        reason = getattr(result, "failure_reason", None) or "the editor refused the edit"
        logger.info("applyEdit refused: %s", reason)
        server.status.show_once(
            f"apply-refused:{reason}", f"ByteBuddy: {label} not applied: {reason}"
        )
        return False
    return True


def show_info(server: ByteBuddyServer, message: str, kind: types.MessageType) -> None:
    try:
        server.window_show_message(types.ShowMessageParams(type=kind, message=message))
    except Exception:
        logger.debug("could not show message", exc_info=True)


# ---------------------------------------------------------------------------
# The edit itself


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
    messages = build_edit_messages(request, action=action)
    answer, model = await ask_model(
        server,
        "edit",
        messages,
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


def no_code_message(model: str) -> str:
    return f"ByteBuddy: the model '{model}' answered without code; nothing was changed."


class EditArgs(BaseModel):
    uri: str
    range: dict[str, Any]
    instruction: str | None = None


def parse_range(raw: Any) -> types.Range:
    try:
        start, end = raw["start"], raw["end"]
        return types.Range(
            start=types.Position(line=int(start["line"]), character=int(start["character"])),
            end=types.Position(line=int(end["line"]), character=int(end["character"])),
        )
    except (KeyError, TypeError, ValueError):
        raise JsonRpcInvalidParams(
            "range must be {start: {line, character}, end: {line, character}}"
        ) from None


def first_argument(command: str, args: Sequence[Any]) -> dict[str, Any]:
    payload = args[0] if args else None
    if not isinstance(payload, dict):
        raise JsonRpcInvalidParams(f"{command} expects one object argument")
    return payload


ArgsT = TypeVar("ArgsT", bound=BaseModel)


def command_args(model: type[ArgsT], command: str, shape: str, args: Sequence[Any]) -> ArgsT:
    """A command's one object argument, validated; InvalidParams naming ``shape`` if not."""
    try:
        return model.model_validate(first_argument(command, args))
    except ValidationError as exc:
        raise JsonRpcInvalidParams(
            f"{command} expects {shape}: {exc.errors(include_url=False)[0]['msg']}"
        ) from None


def register(server: ByteBuddyServer) -> None:
    @server.command(EDIT_COMMAND)
    async def edit(*args: Any) -> dict[str, Any]:
        follow_request_cancellation(server)
        parsed = command_args(EditArgs, EDIT_COMMAND, "{uri, range, instruction}", args)
        if not parsed.instruction or not parsed.instruction.strip():
            # LSP has no text prompt: the client asks the user, then sends the command.
            raise JsonRpcInvalidParams(
                f"{EDIT_COMMAND} needs an instruction: the editor should ask for one"
            )
        document = await require_document(server, parsed.uri)
        selection = selection_for(document, parse_range(parsed.range))
        version, before = document.version, document.text
        outcome = await compute_edit(
            server, document, selection, instruction=parsed.instruction.strip()
        )
        if outcome.new_text is None:
            show_info(server, no_code_message(outcome.model), types.MessageType.Warning)
            return {"applied": False, "model": outcome.model, "reason": "no code in the answer"}
        if outcome.new_text == selection.text:
            return {"applied": False, "model": outcome.model, "reason": "no change"}
        ensure_unchanged(document, version, before)
        text_edit = types.TextEdit(range=selection.range, new_text=outcome.new_text)
        applied = await send_workspace_edit(
            server, workspace_edit_for(server, document, [text_edit]), "ByteBuddy edit"
        )
        return {"applied": applied, "model": outcome.model}
