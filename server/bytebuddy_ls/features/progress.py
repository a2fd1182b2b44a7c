"""What the user sees while a request waits upstream: ``bytebuddy/status`` for every
request, and work-done progress for requests the user asked for explicitly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

from ..log import logger
from .workspace import supports_work_done_progress

if TYPE_CHECKING:
    from ..inference import WaitEvent
    from ..server import ByteBuddyServer
    from .status import State


BUSY_DELAY_S = 0.2


def create_progress_token(server: ByteBuddyServer, kind: str) -> str:
    """A new server-initiated work-done progress token, ``bytebuddy-<kind>-<random>``,
    announced to the client (``window/workDoneProgress/create``). Ask
    ``supports_work_done_progress`` first."""
    token = f"bytebuddy-{kind}-{uuid.uuid4().hex[:12]}"
    server.work_done_progress.create(token)
    return token


class RequestProgress:
    """One request's waits. ``on_wait`` is given to the inference client; ``finish``
    ends any progress it began and puts the status back."""

    def __init__(
        self,
        server: ByteBuddyServer,
        *,
        role: str,
        title: str,
        token: types.ProgressToken | None = None,
        visible: bool = True,
    ) -> None:
        self._server = server
        self._role = role
        self._title = title
        self._token = token
        self._visible = visible
        self._began = False
        self._busy_timer: asyncio.TimerHandle | None = None
        self._busy: Callable[[], None] = lambda: None
        self.events: list[WaitEvent] = []

    def start(self, model: str | None = None, message: str | None = None) -> None:
        """Say "busy" only if the request is still running after ``BUSY_DELAY_S``: a
        fast answer should not make the status flicker (or cost two notifications)."""
        text = message or f"{self._title}…"

        def busy() -> None:
            self._busy_timer = None
            self._server.status.set("busy", text, model=model, role=self._role)

        self._busy = busy
        try:
            self._busy_timer = asyncio.get_running_loop().call_later(BUSY_DELAY_S, busy)
        except RuntimeError:  # no running loop (CLI use): show nothing
            self._busy_timer = None

    def answering(self) -> None:
        """The answer starts to show (first streamed delta): say "busy" now if not yet,
        so the status never arrives after the text it describes."""
        if self._busy_timer is not None:
            self._busy_timer.cancel()
            self._busy()

    def on_wait(self, event: WaitEvent) -> None:
        self.events.append(event)
        if event.kind in ("loading", "waking"):
            self._server.status.set("loading", event.message, model=event.model, role=self._role)
        else:
            self._server.status.set("busy", event.message, model=event.model, role=self._role)
        if self._visible:
            self._progress(event.message)

    def _progress(self, message: str) -> None:
        progress = self._server.work_done_progress
        try:
            if not self._began:
                if self._token is None:
                    if not supports_work_done_progress(self._server):
                        return
                    self._token = create_progress_token(self._server, "request")
                progress.begin(
                    self._token,
                    types.WorkDoneProgressBegin(title=self._title, message=message),
                )
                self._began = True
            elif self._token is not None:
                progress.report(self._token, types.WorkDoneProgressReport(message=message))
        except Exception:  # progress is a courtesy; never fail the request for it
            logger.debug("work-done progress failed", exc_info=True)

    def finish(self, error: BaseException | None = None, model: str | None = None) -> None:
        from ..inference import BudgetExceededError, InferenceError, ModelLoadingError

        if self._busy_timer is not None:
            self._busy_timer.cancel()
            self._busy_timer = None
        if self._began and self._token is not None:
            try:
                self._server.work_done_progress.end(self._token, types.WorkDoneProgressEnd())
            except Exception:
                logger.debug("work-done progress end failed", exc_info=True)
            self._began = False
        if isinstance(error, ModelLoadingError):
            # Still warming up, not broken: the next request will find it ready.
            self._server.status.set(
                "loading", error.user_message, model=error.model, role=self._role
            )
        elif isinstance(error, InferenceError):
            # A used-up budget is a designed pause, not a failure (also when it was reached
            # while the request waited, after the engine's own pause check).
            state: State = "disabled" if isinstance(error, BudgetExceededError) else "error"
            self._server.status.set(state, error.user_message, model=error.model, role=self._role)
            if not error.retryable:
                # Auth, payment, not-found: one message per distinct cause.
                self._server.status.show_once(
                    f"inference:{type(error).__name__}:{error.model}", error.user_message
                )
        else:
            self._server.status.set_ready(model=model, role=self._role)
