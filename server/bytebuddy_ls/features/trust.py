"""Asking the user to trust a workspace config (see ``config.trust``).

When the active config came with the workspace and its exact content is not trusted,
the client gets one ``window/showMessageRequest`` per content: what the file would read
from the environment and which hosts it would contact, with the actions ``Trust`` and
``Not now``. ``Trust`` records the digest the user was shown (a later edit asks again)
and reloads; meanwhile the config runs without any of the user's secrets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..config import LoadedConfig, Provenance
from ..log import logger, redact

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

TRUST_ACTION = "Trust"
NOT_NOW_ACTION = "Not now"


def trust_message(loaded: LoadedConfig) -> str:
    where = str(loaded.path) if loaded.path is not None else "the workspace's editor settings"
    return redact(
        f"This repository's ByteBuddy config ({where}) {loaded.reach.describe()}. Until you "
        "trust it, it runs without ${VAR} expansion, custom headers or your Hugging Face "
        "token, and only with https:// servers. Trust this exact content?"
    )


class TrustPrompter:
    """Asks once per config content (per server process)."""

    def __init__(self, server: ByteBuddyServer) -> None:
        self.server = server
        self.asked: set[str] = set()

    def check(self, loaded: LoadedConfig | None) -> None:
        if loaded is None or loaded.trusted or loaded.provenance is not Provenance.WORKSPACE:
            return
        if not self.server.editor_config:
            # Over TCP the "client" may be any local process: its answer is no consent.
            logger.warning(
                "workspace config %s is not trusted; run `bytebuddy-ls trust` to trust it",
                loaded.origin,
            )
            return
        if loaded.digest in self.asked:
            return
        self.asked.add(loaded.digest)
        self.server.spawn(self._ask(loaded))

    async def _ask(self, loaded: LoadedConfig) -> None:
        from .configuration import apply_reload

        params = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=trust_message(loaded),
            actions=[
                types.MessageActionItem(TRUST_ACTION),
                types.MessageActionItem(NOT_NOW_ACTION),
            ],
        )
        try:
            choice = await self.server.window_show_message_request_async(params)
        except Exception as exc:  # a client that cannot ask: `bytebuddy-ls trust` still works
            logger.info("could not ask to trust %s: %s", loaded.origin, exc)
            return
        if choice is None or choice.title != TRUST_ACTION:
            logger.info("workspace config %s left untrusted", loaded.origin)
            return
        label = str(loaded.path) if loaded.path is not None else loaded.origin
        logger.info("workspace config %s trusted by the user", label)
        apply_reload(self.server, self.server.config.trust(loaded.digest, label))
