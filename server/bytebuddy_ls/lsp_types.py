"""The shapes of ByteBuddy's own LSP messages and command arguments, as attrs classes.

pygls converts JSON into these with lsprotocol's converter (camelCase on the wire,
snake_case here), exactly as it does for the standard LSP types: a command handler
annotated ``(args: EditArgs)`` receives an ``EditArgs``, and a request whose params
do not fit is answered with InvalidParams naming the field. Editors' clients send
these shapes (``editor-clients/``); keep them in step.
"""

from __future__ import annotations

from typing import Any

import attrs
from lsprotocol import types

CHAT_METHOD = "bytebuddy/chat"
MODELS_METHOD = "bytebuddy/models"
STATUS_METHOD = "bytebuddy/status"
USAGE_METHOD = "bytebuddy/usage"
CONTEXT_METHOD = "bytebuddy/context"

EDIT_COMMAND = "bytebuddy.edit"
APPLY_COMMAND = "bytebuddy.apply"
RUN_ACTION_COMMAND = "bytebuddy.runAction"
ACCEPT_COMMAND = "bytebuddy.acceptCompletion"
TOGGLE_COMMAND = "bytebuddy.toggleAutocomplete"
SELECT_MODEL_COMMAND = "bytebuddy.selectModel"
RELOAD_COMMAND = "bytebuddy.reloadConfig"
# Inference Endpoints; argument ``{model?}`` (a config model or endpoint name).
RESUME_ENDPOINT_COMMAND = "bytebuddy.resumeEndpoint"
PAUSE_ENDPOINT_COMMAND = "bytebuddy.pauseEndpoint"
REFRESH_ENDPOINTS_COMMAND = "bytebuddy.refreshEndpoints"


@attrs.define
class EditArgs:
    """``bytebuddy.edit``: rewrite ``range`` (empty: the enclosing block) as instructed.
    Without an instruction the client is expected to ask the user for one."""

    uri: str
    range: types.Range
    instruction: str | None = None


@attrs.define
class ApplyArgs:
    """``bytebuddy.apply``: merge ``code`` into the document (into ``range`` if given)."""

    uri: str
    code: str
    range: types.Range | None = None


@attrs.define
class RunActionArgs:
    """``bytebuddy.runAction`` and a code action's ``data``: what resolve needs."""

    id: str
    uri: str
    range: types.Range
    version: int | None = None
    diagnostics: list[str] = attrs.field(factory=list)


@attrs.define
class AcceptCompletionArgs:
    """``bytebuddy.acceptCompletion``: the suggestion the user accepted."""

    id: str


@attrs.define
class SelectModelArgs:
    """``bytebuddy.selectModel``: make the model ``name`` serve ``role`` first."""

    role: str
    name: str


@attrs.define
class ChatTurn:
    role: str
    content: str


@attrs.define
class ContextParams:
    """``bytebuddy/context``: what the next prompt at ``position`` (or the start of
    ``range``) would include; see ``features/context.py``."""

    text_document: types.TextDocumentIdentifier
    position: types.Position | None = None
    range: types.Range | None = None
    role: str = "autocomplete"
    query: str | None = None


@attrs.define
class ChatParams:
    """``bytebuddy/chat`` params; see ``features/chat.py``."""

    messages: list[ChatTurn]
    text_document: types.TextDocumentIdentifier | None = None
    range: types.Range | None = None
    model: str | None = None
    partial_result_token: types.ProgressToken | None = None
    work_done_token: types.ProgressToken | None = None


# One request class per custom method, as pygls' ``get_message_type`` wants: alike in
# shape, each names its own params type for cattrs to structure.


@attrs.define
class ChatRequest:
    id: int | str
    params: ChatParams
    method: str = CHAT_METHOD
    jsonrpc: str = "2.0"


@attrs.define
class UsageParams:
    """``bytebuddy/usage``: usage since ``since`` (a duration like ``7d``, ``today``,
    ``month`` or a date; default ``7d``) grouped by ``by`` (model, provider, role,
    operation or day; default model)."""

    since: str | None = None
    by: str | None = None


@attrs.define
class UsageRequest:
    id: int | str
    params: UsageParams | None = None
    method: str = USAGE_METHOD
    jsonrpc: str = "2.0"


@attrs.define
class ContextRequest:
    id: int | str
    params: ContextParams
    method: str = CONTEXT_METHOD
    jsonrpc: str = "2.0"


# Request types pygls should structure ``bytebuddy/*`` messages with (the standard
# methods' types come from lsprotocol).
CUSTOM_MESSAGE_TYPES: dict[str, type[Any]] = {
    CHAT_METHOD: ChatRequest,
    CONTEXT_METHOD: ContextRequest,
    USAGE_METHOD: UsageRequest,
}
