"""One module per LSP capability; ``server.py`` wires them together.

``MANIFEST`` lists what each feature module registers, so the server can advertise its
capabilities at ``initialize`` before importing the modules: importing them (pydantic,
httpx, the prompting tables) costs more CPU than the rest of start-up, and the editor
waits for the ``initialize`` answer. The modules are imported right after the handshake
(``initialized``), or by the first request that needs them. A test checks that the
manifest and the modules' ``register`` functions agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types


@dataclass(frozen=True)
class FeatureModule:
    name: str  # module in this package, with a ``register(server)`` function
    methods: dict[str, Any] = field(default_factory=dict)  # LSP method -> options
    commands: tuple[str, ...] = ()


MANIFEST: tuple[FeatureModule, ...] = (
    FeatureModule(
        "configuration",
        # INITIALIZE / INITIALIZED are run by the server itself once the module is loaded.
        {
            types.INITIALIZE: None,
            types.INITIALIZED: None,
            types.WORKSPACE_DID_CHANGE_CONFIGURATION: None,
        },
        ("bytebuddy.reloadConfig",),
    ),
    FeatureModule("models", {"bytebuddy/models": None}, ("bytebuddy.selectModel",)),
    FeatureModule(
        "inline_completion",
        {types.TEXT_DOCUMENT_INLINE_COMPLETION: types.InlineCompletionOptions()},
        ("bytebuddy.acceptCompletion", "bytebuddy.toggleAutocomplete"),
    ),
    FeatureModule("completion", {types.TEXT_DOCUMENT_COMPLETION: types.CompletionOptions()}),
    FeatureModule("edit", commands=("bytebuddy.edit",)),
    FeatureModule("apply", commands=("bytebuddy.apply",)),
    FeatureModule(
        "code_actions",
        {
            types.TEXT_DOCUMENT_CODE_ACTION: types.CodeActionOptions(
                code_action_kinds=[
                    types.CodeActionKind.QuickFix,
                    types.CodeActionKind.RefactorRewrite,
                    types.CodeActionKind.Source,
                ],
                resolve_provider=True,
            ),
            types.CODE_ACTION_RESOLVE: None,
        },
        ("bytebuddy.runAction",),
    ),
    FeatureModule("chat", {"bytebuddy/chat": None}),
    FeatureModule(
        "endpoints",
        {types.TEXT_DOCUMENT_DID_OPEN: None},
        ("bytebuddy.resumeEndpoint", "bytebuddy.pauseEndpoint", "bytebuddy.refreshEndpoints"),
    ),
)

# Run by the server in order when the modules load, not advertised as proxies.
LIFECYCLE_METHODS = frozenset({types.INITIALIZE, types.INITIALIZED})
