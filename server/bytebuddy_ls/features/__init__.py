"""One module per LSP capability, each with a ``register(server)`` that declares its
handlers on the server with pygls' ``feature``/``command`` decorators, typed as pygls
converts them (lsprotocol types, and ``lsp_types`` for ByteBuddy's own shapes).

A feature module imports only light modules at the top (lsprotocol, pygls, attrs,
``prompting``, ``documents``): the server registers every feature before it answers
``initialize``. What it needs from ``config`` and ``inference`` (pydantic, httpx) it
reaches through the server's services, which are created on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import (
    apply,
    chat,
    code_actions,
    completion,
    configuration,
    context,
    edit,
    inline_completion,
    models,
    usage,
)

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

FEATURES = (
    configuration,
    models,
    inline_completion,
    completion,
    edit,
    apply,
    code_actions,
    chat,
    context,
    usage,
)


def register_features(server: ByteBuddyServer) -> None:
    for feature in FEATURES:
        feature.register(server)
