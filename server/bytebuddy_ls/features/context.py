"""Workspace context over LSP: the context inspector (``bytebuddy/context``), the index's
life (built in the background after start-up, with work-done progress; kept current
from edits, saves and file events), and ``bytebuddy-ls context FILE:LINE:COL``.

``bytebuddy/context`` params ``{textDocument: {uri}, position | range, role?, query?}``
(role ``autocomplete`` by default; ``chat`` and ``edit`` show workspace retrieval for
``query``, or for the code at the position when no query is given). The answer is built
by the same code that builds the prompt (``Autocomplete.plan``,
``ContextEngine.retrieve``), so it is exactly what the next request would include:

    {role, model, modelId, format, kind, snippets: [{kind, path, uri, startLine, endLine,
     score, tokens, text, symbol?}], tokens: {context, budget, prompt}, prompt | messages,
     reason, index: {state, files, chunks, embedded, semantic, …}}

``reason`` is null when snippets were found, else why not (context off, index not
built, nothing relevant, budget full).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..log import logger
from ..lsp_types import CONTEXT_METHOD, ContextParams
from ..prompting.lines import window_start
from ..prompting.tokens import estimate_tokens
from .progress import create_progress_token
from .workspace import supports_work_done_progress

if TYPE_CHECKING:
    from ..documents import Document
    from ..server import ByteBuddyServer
    from ..workspace.engine import ContextEngine, ContextOptions
    from ..workspace.index import IndexStatus
    from .autocomplete import Autocomplete, AutocompletePlan

CONTEXT_ROLES = ("autocomplete", "chat", "edit")
# After start-up the first completions come first; the index builds a moment later.
INDEX_START_DELAY_S = 1.0


def plan_json(plan: AutocompletePlan, engine: ContextEngine | None) -> dict[str, Any]:
    """The inspector's answer for an autocomplete plan."""
    prompt = plan.prompt
    context = plan.context
    snippets = context.snippets if context is not None else []
    context_tokens = context.selection.tokens if context is not None else 0
    sent = prompt.prompt if prompt.kind != "chat" else "\n".join(c for _, c in prompt.messages)
    data: dict[str, Any] = {
        "role": "autocomplete",
        "model": plan.model.name,
        "modelId": plan.model.model,
        "kind": prompt.kind,
        "format": prompt.context_format,
        "snippets": [s.to_json() for s in snippets],
        "tokens": {
            "context": context_tokens,
            "budget": plan.budget_tokens,
            "prompt": estimate_tokens(sent),
        },
        "reason": None if snippets else (context.reason if context else "context is off"),
        "index": engine.status_json() if engine is not None else {"state": "off"},
    }
    if snippets and prompt.kind != "chat" and prompt.context_format is None:
        # A custom template without {{context}}: the snippets are not sent.
        data["snippets"] = []
        data["reason"] = "the model's autocomplete template has no {{context}} variable"
    if prompt.kind == "chat":
        data["messages"] = [{"role": r, "content": c} for r, c in prompt.messages]
    else:
        data["prompt"] = prompt.prompt
    return data


async def inspect_autocomplete(
    autocomplete: Autocomplete, document: Document, offset: int
) -> dict[str, Any]:
    chain = autocomplete.chain_for("autocomplete")
    if not chain:
        return {
            "role": "autocomplete",
            "snippets": [],
            "reason": "no model has the autocomplete role",
            "index": autocomplete.context.status_json() if autocomplete.context else {},
        }
    plan = await autocomplete.plan(chain[0], document, offset)
    return plan_json(plan, autocomplete.context)


def query_near(document: Document, offset: int, lines: int = 6) -> str:
    """The code around a position, as a retrieval query when the user gave none."""
    text = document.text
    start = window_start(text, offset, lines)
    end = text.find("\n", offset)
    return text[start : end if end >= 0 else len(text)].strip()


async def inspect_retrieval(
    engine: ContextEngine, role: str, query: str, budget_tokens: int | None = None
) -> dict[str, Any]:
    result = await engine.retrieve(query, budget_tokens)
    return {
        "role": role,
        "query": query,
        "semantic": result.semantic,
        "snippets": [s.to_json() for s in result.snippets],
        "tokens": {"context": result.tokens, "budget": engine.options.max_tokens},
        "reason": result.reason,
        "index": engine.status_json(),
    }


class IndexProgress:
    """Work-done progress for the background index build (one at a time)."""

    def __init__(self, server: ByteBuddyServer) -> None:
        self.server = server
        self.token: str | None = None

    def __call__(self, status: IndexStatus) -> None:
        progress = self.server.work_done_progress
        try:
            if status.state == "building" and self.token is None:
                if not supports_work_done_progress(self.server):
                    return
                self.token = create_progress_token(self.server, "index")
                progress.begin(
                    self.token,
                    types.WorkDoneProgressBegin(
                        title="ByteBuddy: indexing workspace", message="0 files"
                    ),
                )
            elif self.token is not None and status.state == "building":
                progress.report(
                    self.token, types.WorkDoneProgressReport(message=f"{status.files} files")
                )
            elif self.token is not None:
                message = f"{status.files} files, {status.chunks} chunks"
                progress.end(self.token, types.WorkDoneProgressEnd(message=message))
                self.token = None
        except Exception:  # progress is a courtesy
            logger.debug("index progress failed", exc_info=True)


def _options(server: ByteBuddyServer) -> ContextOptions:
    from ..workspace.engine import ContextOptions

    loaded = server.config.loaded
    config = loaded.config.context if loaded is not None else None
    return ContextOptions.from_config(config, server.settings.context)


async def answer_context(server: ByteBuddyServer, params: ContextParams) -> dict[str, Any]:
    if params.role not in CONTEXT_ROLES:
        raise JsonRpcInvalidParams(
            f"{CONTEXT_METHOD}: role must be one of {', '.join(CONTEXT_ROLES)}"
        )
    document = server.documents.get(params.text_document.uri)
    if document is None:
        raise JsonRpcInvalidParams(
            f"unknown document {params.text_document.uri}: open it in the editor first"
        )
    point = params.position or (params.range.start if params.range else None)
    if point is None:
        raise JsonRpcInvalidParams(f"{CONTEXT_METHOD} needs a position or a range")
    offset = document.offset_at(point)
    engine = server.context_engine
    engine.configure(_options(server))
    if params.role == "autocomplete":
        return await inspect_autocomplete(server.autocomplete, document, offset)
    query = params.query or query_near(document, offset)
    return await inspect_retrieval(engine, params.role, query)


def setup_engine(server: ByteBuddyServer) -> None:
    """Bind the context engine to the server's services, once the config is loaded."""
    from ..workspace.engine import remote_embedding_allowed

    engine = server.context_engine
    if engine.client is not None:
        return
    engine.client = server.inference
    engine.embed_chain = lambda: server.config.chain("embed")
    engine.remote_embedding_allowed = lambda: remote_embedding_allowed(server.config.loaded)
    engine.on_progress = IndexProgress(server)
    engine.start_delay_s = INDEX_START_DELAY_S


def _follow_config(server: ByteBuddyServer) -> None:
    """After a config (re)load: the engine follows the new options, and an index built
    before re-embeds, since the embed model or the config's trust may differ."""
    if server.config.loaded is None:
        return
    setup_engine(server)
    engine = server.context_engine
    engine.configure(_options(server))
    had_index = engine.index is not None
    start_index(server)
    if had_index and engine.index is not None:
        server.spawn(engine.refresh_embeddings())


def register(server: ByteBuddyServer) -> None:
    server.on_config_changed(lambda: _follow_config(server))

    @server.feature(CONTEXT_METHOD)
    async def context(params: ContextParams) -> dict[str, Any]:
        return await answer_context(server, params)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        engine = server.context_engine
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                engine.note_change(params.text_document.uri, change.range.start.line)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        server.context_engine.note_saved(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(params: types.DidChangeWatchedFilesParams) -> None:
        engine = server.context_engine
        for event in params.changes:
            engine.note_file_event(event.uri, event.type == types.FileChangeType.Deleted)


def start_index(server: ByteBuddyServer) -> None:
    """After the config loaded: build the index in the background (never awaited by a
    request) and ask the client to tell us about files changed outside the editor."""
    engine = server.context_engine
    if engine.start_index() is None:
        return
    capabilities = server.client_capabilities
    workspace = getattr(capabilities, "workspace", None)
    watched = getattr(workspace, "did_change_watched_files", None)
    if getattr(watched, "dynamic_registration", False):
        registration = types.Registration(
            id="bytebuddy-context-watch",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
            ),
        )
        try:
            server.client_register_capability(types.RegistrationParams([registration]))
        except Exception:
            logger.debug("file watcher registration failed", exc_info=True)


def format_answer(answer: dict[str, Any]) -> str:
    """The inspector's answer for a terminal."""
    lines: list[str] = []
    head = f"role: {answer.get('role')}"
    if answer.get("model"):
        head += f"  model: {answer['model']} ({answer.get('modelId')})"
    if answer.get("format"):
        head += f"  format: {answer['format']}"
    lines.append(head)
    tokens = answer.get("tokens") or {}
    if tokens:
        lines.append(
            "tokens: "
            + ", ".join(f"{key} {value}" for key, value in tokens.items() if value is not None)
        )
    index = answer.get("index") or {}
    if index:
        lines.append(
            f"index: {index.get('state')}"
            + (f", {index['files']} files" if "files" in index else "")
            + (f", semantic: {index['semantic']}" if index.get("semantic") else "")
        )
    snippets = answer.get("snippets") or []
    if not snippets:
        lines.append(f"no context: {answer.get('reason') or 'nothing found'}")
    for snippet in snippets:
        where = f"{snippet['path']}:{snippet['startLine'] + 1}-{snippet['endLine']}"
        what = snippet["kind"] + (f" {snippet['symbol']}" if snippet.get("symbol") else "")
        lines.append(f"--- {where}  {what}  score {snippet['score']}  {snippet['tokens']} tokens")
        lines.append(snippet["text"])
    return "\n".join(lines)
