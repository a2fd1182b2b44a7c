"""Warm-up: one 1-token request before the first real one, so the first completion
does not pay a cold start (an endpoint scaled to zero, a serverless model unloaded).

Per model, ``warmup: onStartup`` warms when the config loads, ``onOpen`` when the first
code document opens. Off by default: a warm-up starts a paid replica. A warm-up is
bounded (``WARMUP_TIMEOUT_S``), cancellable (shutdown, a config change, the editor's
cancel button on its progress), never runs twice at once, and is skipped while the model
is warm: it answered within its warm window (the endpoint's scale-to-zero timeout, else
``WARM_WINDOW_S``). A paused endpoint is never warmed (that would need the user's yes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..config.schema import ModelConfig
from ..inference.errors import EmptyAnswerError, InferenceError
from ..inference.types import WaitEvent
from ..log import logger
from .api import FAILED_STATES
from .manager import BackgroundProgress, EndpointManager

WARM_WINDOW_S = 300.0
WARMUP_TIMEOUT_S = 900.0
# Language ids that are not code: opening one of these does not warm anything.
NOT_CODE = frozenset(
    {"", "plaintext", "text", "log", "output", "scminput", "git-commit", "git-rebase", "help"}
)

# (model, on_wait) -> the 1-token request; the server passes its inference call.
WarmCall = Callable[[ModelConfig, Callable[[WaitEvent], None]], Awaitable[Any]]


class Warmer:
    def __init__(
        self,
        call: WarmCall,
        endpoints: EndpointManager,
        *,
        progress: Callable[[str], BackgroundProgress | None] | None = None,
        on_change: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_s: float = WARMUP_TIMEOUT_S,
    ) -> None:
        """``on_change(model, what)``: what ∈ warming | warm | failed | cancelled.
        (Options are stored one by one, like ``RequestProgress``'s: nothing to share.)"""
        self._call = call
        self._endpoints = endpoints
        self._progress = progress
        self._on_change = on_change
        self._clock = clock
        self.timeout_s = timeout_s
        self._models: list[ModelConfig] = []
        self._tasks: dict[str, asyncio.Task[bool]] = {}
        self._last_ok: dict[str, float] = {}
        self._opened = False
        self.sent: dict[str, int] = {}  # warm-up requests sent per model (for tests, stats)

    def configure(self, models: list[ModelConfig]) -> None:
        keep = {m.name for m in models if m.warmup != "off" and not m.is_local}
        for name in list(self._tasks):
            if name not in keep:
                self._tasks.pop(name).cancel()
        self._models = [m for m in models if m.name in keep]

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()

    # ----- triggers ------------------------------------------------------------------

    def on_startup(self) -> list[str]:
        return [m.name for m in self._models if m.warmup == "onStartup" and self._start(m)]

    def on_open(self, language_id: str) -> list[str]:
        """The first code document of the session opened: warm the ``onOpen`` models."""
        if self._opened or language_id in NOT_CODE:
            return []
        self._opened = True
        return [m.name for m in self._models if m.warmup == "onOpen" and self._start(m)]

    def note_success(self, model: str) -> None:
        """A real request answered: the model is warm now."""
        self._last_ok[model] = self._clock()

    def is_warm(self, model: ModelConfig) -> bool:
        last = self._last_ok.get(model.name)
        if last is None:
            return False
        window = WARM_WINDOW_S
        view = self._endpoints.view(model.name)
        if view is not None:
            # A success proves it ran then, even before the cached state says so; a
            # pause since then (or a failure) makes it cold.
            if view.get("state") in ("paused", *FAILED_STATES):
                return False
            minutes = self._scale_to_zero_minutes(model)
            if minutes:
                window = minutes * 60.0
        return self._clock() - last < window

    def _scale_to_zero_minutes(self, model: ModelConfig) -> int | None:
        info = self._endpoints.info(model.name)
        return info.scale_to_zero_timeout_min if info else None

    def running(self, model: str) -> bool:
        task = self._tasks.get(model)
        return task is not None and not task.done()

    def _start(self, model: ModelConfig) -> bool:
        if self.running(model.name) or self.is_warm(model):
            return False
        self._tasks[model.name] = asyncio.ensure_future(self.warm(model))
        return True

    # ----- the warm-up ---------------------------------------------------------------

    async def warm(self, model: ModelConfig) -> bool:
        """One 1-token request; True when the model answered."""
        if await self._endpoint_cannot_serve(model):
            return False
        self._tell(model.name, "warming")
        progress = self._cancellable_progress(model)

        def on_wait(event: WaitEvent) -> None:
            if progress is not None:
                progress.report(event.message)

        self.sent[model.name] = self.sent.get(model.name, 0) + 1
        started = self._clock()
        outcome = "failed"
        try:
            # An empty one-token answer is an answer: the model is warm all the same.
            with contextlib.suppress(EmptyAnswerError):
                await asyncio.wait_for(self._call(model, on_wait), self.timeout_s)
            outcome = "warm"
            self.note_success(model.name)
            logger.info("model '%s' warmed up in %.1f s", model.name, self._clock() - started)
            return True
        except asyncio.TimeoutError:
            logger.warning("model '%s': warm-up gave up after %g s", model.name, self.timeout_s)
            return False
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except InferenceError as exc:
            logger.warning("model '%s': warm-up failed: %s", model.name, exc.user_message)
            return False
        finally:
            if progress is not None:
                progress.end(
                    {"warm": f"{model.name} is warm", "cancelled": "warm-up cancelled"}.get(
                        outcome, f"warm-up of {model.name} failed"
                    )
                )
            self._tell(model.name, outcome)

    async def _endpoint_cannot_serve(self, model: ModelConfig) -> bool:
        """Whether the model's dedicated endpoint is paused or failed: a warm-up would
        only wait (or resume it, which costs money) to no use."""
        if model.endpoint is None:
            return False
        info = await self._endpoints.refresh(model)
        if info is not None and (info.state == "paused" or info.state in FAILED_STATES):
            logger.info("model '%s': no warm-up, the endpoint is %s", model.name, info.state)
            return True
        return False

    def _cancellable_progress(self, model: ModelConfig) -> BackgroundProgress | None:
        """The warm-up's progress display, whose cancel button (when the client has one)
        cancels this warm-up; None when the client cannot show progress."""
        progress = self._progress(f"Warming up {model.name}") if self._progress else None
        task = asyncio.current_task()
        if progress is not None and task is not None:
            cancel_on = getattr(progress, "on_cancel", None)
            if callable(cancel_on):
                cancel_on(task.cancel)
        return progress

    def _tell(self, model: str, what: str) -> None:
        if self._on_change is not None:
            try:
                self._on_change(model, what)
            except Exception:
                logger.debug("warm-up listener failed", exc_info=True)
