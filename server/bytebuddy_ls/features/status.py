"""``bytebuddy/status`` notifications and once-per-cause user messages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types

from ..log import logger, redact
from ..lsp_types import STATUS_METHOD

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

State = Literal["ready", "busy", "loading", "error", "disabled", "unconfigured"]


@dataclass(frozen=True)
class Status:
    state: State
    message: str
    model: str | None = None
    role: str | None = None
    budget: dict[str, Any] | None = None  # the most used budget (see usage.budgets)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class StatusReporter:
    """Sends a status only when it changes, and each distinct problem message once."""

    def __init__(self, server: ByteBuddyServer) -> None:
        self._server = server
        self.current = Status("unconfigured", "starting")
        self._shown: set[str] = set()

    def set(
        self, state: State, message: str, *, model: str | None = None, role: str | None = None
    ) -> None:
        self._send(Status(state, redact(message), model, role, self.current.budget))

    def set_budget(self, budget: dict[str, Any] | None) -> None:
        """Sends the status again when the budget figure it carries changed."""
        self._send(replace(self.current, budget=budget))

    def _send(self, status: Status) -> None:
        if status == self.current:
            return
        self.current = status
        try:
            self._server.protocol.notify(STATUS_METHOD, status.to_json())
        except Exception:  # the client may be gone; status is best effort
            logger.debug("could not send status", exc_info=True)

    def set_ready(self, *, model: str | None = None, role: str | None = None) -> None:
        """Back to the resting state after a request: ready, or what keeps us from it."""
        server = self._server
        if server.config.loaded is None:
            self.set("unconfigured", "no model config found")
        elif role == "autocomplete" and not server.settings.autocomplete.enabled:
            self.set("disabled", "autocomplete is off", role=role)
        else:
            message = f"{role}: {model}" if model and role else "ready"
            self.set("ready", message, model=model, role=role)

    def show_once(
        self, cause: str, message: str, kind: types.MessageType = types.MessageType.Error
    ) -> bool:
        """``window/showMessage`` once per distinct cause; returns whether it was shown."""
        if cause in self._shown:
            return False
        self._shown.add(cause)
        text = redact(message)
        logger.warning("%s", text)
        try:
            self._server.window_show_message(types.ShowMessageParams(type=kind, message=text))
        except Exception:
            logger.debug("could not show message", exc_info=True)
        return True

    def forget(self, prefix: str) -> None:
        """Allow messages of a cause family to be shown again (e.g. after a fix)."""
        self._shown = {c for c in self._shown if not c.startswith(prefix)}
