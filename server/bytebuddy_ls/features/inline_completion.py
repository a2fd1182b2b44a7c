"""``textDocument/inlineCompletion`` (ghost text), ``bytebuddy.acceptCompletion`` and
``bytebuddy.toggleAutocomplete``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..lsp_types import ACCEPT_COMMAND, TOGGLE_COMMAND, AcceptCompletionArgs
from .progress import RequestProgress

if TYPE_CHECKING:
    from ..documents import Document
    from ..server import ByteBuddyServer
    from .autocomplete import Suggestion


async def suggest_at(
    server: ByteBuddyServer,
    document: Document,
    position: types.Position,
    *,
    automatic: bool,
    token: types.ProgressToken | None = None,
) -> Suggestion | None:
    """Run the autocomplete engine for an LSP request; report status and errors.
    Never raises for upstream problems: the request is answered with nothing."""
    from ..inference import InferenceError
    from .autocomplete import AutocompletePaused, NoAutocompleteModel

    if not server.settings.autocomplete.enabled:
        return None
    offset = document.offset_at(position)
    progress = RequestProgress(
        server,
        role="autocomplete",
        title="ByteBuddy: completing",
        token=token,
        visible=not automatic,
    )
    served_by: list[str] = []

    def on_upstream(model: str) -> None:
        served_by.append(model)
        progress.start(model, "completing…")

    try:
        suggestion = await server.autocomplete.request(
            document,
            offset,
            automatic=automatic,
            on_wait=progress.on_wait,
            on_upstream=on_upstream,
        )
    except NoAutocompleteModel:
        if server.config.loaded is not None:
            server.status.show_once(
                "no-autocomplete-model",
                "No model has the 'autocomplete' role: add `roles: [autocomplete]` to a code "
                "model in the config (see config.example.yaml).",
                types.MessageType.Info,
            )
        return None
    except AutocompletePaused as paused:
        server.status.set("disabled", str(paused), role="autocomplete")
        return None
    except InferenceError as error:
        progress.finish(error)
        return None
    if served_by:
        progress.finish(model=served_by[-1])
    return suggestion


def to_inline_item(document: Document, suggestion: Suggestion) -> types.InlineCompletionItem:
    start = document.position_at(suggestion.offset)
    end = document.position_at(suggestion.offset + suggestion.replace_chars)
    return types.InlineCompletionItem(
        insert_text=suggestion.text,
        range=types.Range(start=start, end=end),
        command=types.Command(
            title="Accept ByteBuddy suggestion",
            command=ACCEPT_COMMAND,
            arguments=[AcceptCompletionArgs(id=suggestion.id)],
        ),
    )


def register(server: ByteBuddyServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        params: types.InlineCompletionParams,
    ) -> types.InlineCompletionList | None:
        document = server.documents.get(params.text_document.uri)
        if document is None:
            return None
        automatic = params.context.trigger_kind != types.InlineCompletionTriggerKind.Invoked
        suggestion = await suggest_at(
            server,
            document,
            params.position,
            automatic=automatic,
            token=params.work_done_token,
        )
        if suggestion is None:
            return types.InlineCompletionList(items=[])
        return types.InlineCompletionList(items=[to_inline_item(document, suggestion)])

    @server.command(ACCEPT_COMMAND)
    def accept_completion(args: AcceptCompletionArgs) -> bool:
        return server.autocomplete.accept(args.id) is not None

    @server.command(TOGGLE_COMMAND)
    def toggle_autocomplete(*_args: Any) -> dict[str, bool]:
        return toggle(server)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        server.forget_document(params.text_document.uri)


def toggle(server: ByteBuddyServer) -> dict[str, bool]:
    settings = server.settings
    enabled = not settings.autocomplete.enabled
    server.settings = settings.model_copy(
        update={"autocomplete": settings.autocomplete.model_copy(update={"enabled": enabled})}
    )
    if enabled:
        server.status.set_ready(role="autocomplete")
    else:
        server.status.set("disabled", "autocomplete is off", role="autocomplete")
    return {"enabled": enabled}
