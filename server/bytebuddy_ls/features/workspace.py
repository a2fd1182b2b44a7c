"""The client's side of the workspace, for every feature: documents (open, or read from
disk), paths shown to the model, what the client can do, and sending edits/messages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from ..documents import Document, language_for_path
from ..log import logger
from .errors import request_failed

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

# How long to wait for the client to answer workspace/applyEdit.
APPLY_EDIT_TIMEOUT_S = 60.0


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


def document_for(server: ByteBuddyServer, uri: str) -> Document | None:
    """The open document, else the file on disk (read once, version unknown)."""
    document = server.documents.get(uri)
    if document is not None:
        return document
    path = path_of(uri)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8", newline="") as handle:  # keep CRLF as it is
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    language = language_for_path(Path(path)) or ""
    return Document(uri, text, None, language, encoding=server.documents.encoding)


def require_document(server: ByteBuddyServer, uri: str) -> Document:
    document = document_for(server, uri)
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
# What the client can do (its capabilities; every level may be absent)


def _workspace_edit(server: ByteBuddyServer) -> types.WorkspaceEditClientCapabilities:
    workspace = server.client_capabilities.workspace
    edit = workspace.workspace_edit if workspace else None
    return edit or types.WorkspaceEditClientCapabilities()


def supports_document_changes(server: ByteBuddyServer) -> bool:
    return bool(_workspace_edit(server).document_changes)


def supports_create_file(server: ByteBuddyServer) -> bool:
    operations = _workspace_edit(server).resource_operations or []
    return supports_document_changes(server) and types.ResourceOperationKind.Create in operations


def resolves_code_action_edits(server: ByteBuddyServer) -> bool:
    text_document = server.client_capabilities.text_document
    code_action = text_document.code_action if text_document else None
    resolve = code_action.resolve_support if code_action else None
    return "edit" in (resolve.properties if resolve else [])


def shows_documents(server: ByteBuddyServer) -> bool:
    window = server.client_capabilities.window
    show = window.show_document if window else None
    return bool(show and show.support)


def supports_work_done_progress(server: ByteBuddyServer) -> bool:
    window = server.client_capabilities.window
    return bool(window and window.work_done_progress)


def has_inline_completion(server: ByteBuddyServer) -> bool:
    text_document = server.client_capabilities.text_document
    return text_document is not None and text_document.inline_completion is not None


# ---------------------------------------------------------------------------
# Edits and messages


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


@dataclass(frozen=True)
class Snapshot:
    """A document as it was when the model was asked: edits computed for it are refused
    once the document has changed."""

    document: Document
    version: int | None
    text: str

    @classmethod
    def of(cls, document: Document) -> Snapshot:
        return cls(document, document.version, document.text)

    def workspace_edit(
        self, server: ByteBuddyServer, edits: Sequence[types.TextEdit]
    ) -> types.WorkspaceEdit:
        if self.document.version != self.version or self.document.text != self.text:
            raise request_failed(
                "The document changed while the model was working; nothing was applied. "
                "Run the action again."
            )
        return workspace_edit_for(server, self.document, edits)


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


def show_message(server: ByteBuddyServer, message: str, kind: types.MessageType) -> None:
    """``window/showMessage``, every time (see ``StatusReporter.show_once`` for once)."""
    try:
        server.window_show_message(types.ShowMessageParams(type=kind, message=message))
    except Exception:
        logger.debug("could not show message", exc_info=True)
