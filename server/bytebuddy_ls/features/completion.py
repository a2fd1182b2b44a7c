"""``textDocument/completion``: the AI suggestion as one completion item, for clients
without inline completion (Helix, eglot). Clients that declare inline completion get
nothing here, so the suggestion never shows twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..lsp_types import ACCEPT_COMMAND, AcceptCompletionArgs
from .inline_completion import suggest_at
from .workspace import has_inline_completion

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

_LABEL_CHARS = 60


def _word_start(text: str, offset: int) -> int:
    start = offset
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return start


def register(server: ByteBuddyServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        empty = types.CompletionList(is_incomplete=True, items=[])
        if not server.settings.completionFallback or has_inline_completion(server):
            return empty
        document = server.documents.get(params.text_document.uri)
        if document is None:
            return empty
        invoked = (
            params.context is not None
            and params.context.trigger_kind == types.CompletionTriggerKind.Invoked
        )
        suggestion = await suggest_at(server, document, params.position, automatic=not invoked)
        if suggestion is None:
            return empty
        # Editors filter items by the word before the cursor: start the edit there so
        # the item survives filtering, and carry that word in the new text.
        start = _word_start(document.text, suggestion.offset)
        word = document.text[start : suggestion.offset]
        new_text = word + suggestion.text
        first_line = new_text.split("\n", 1)[0].rstrip("\r")
        label = first_line if len(first_line) <= _LABEL_CHARS else first_line[:_LABEL_CHARS] + "…"
        edit_range = types.Range(
            start=document.position_at(start),
            end=document.position_at(suggestion.offset + suggestion.replace_chars),
        )
        language = document.language_id or ""
        item = types.CompletionItem(
            label=label or "(ByteBuddy)",
            kind=types.CompletionItemKind.Snippet,
            detail=f"ByteBuddy · {suggestion.model}",
            documentation=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=f"```{language}\n{new_text}\n```"
            ),
            filter_text=new_text,
            sort_text="~",  # after the language server's own items
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=edit_range, new_text=new_text),
            command=types.Command(
                title="Accept ByteBuddy suggestion",
                command=ACCEPT_COMMAND,
                arguments=[AcceptCompletionArgs(id=suggestion.id)],
            ),
        )
        return types.CompletionList(is_incomplete=True, items=[item])
