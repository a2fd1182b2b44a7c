"""Endpoint state for the server: resolve a model's endpoint to its URL, keep its state,
ask before resuming, wait for it to start, and pause it when idle.

``prepare(model, on_wait)`` runs before every inference call of a model with
``endpoint:``; it returns the model with ``apiBase`` set to the endpoint's URL, or raises:

- running → at once (the state is cached; a failed request refreshes it);
- scaledToZero → at once: the request itself wakes the endpoint, and the inference
  client's waking rules apply (an invoked request waits, an automatic one is answered
  empty); a watcher polls the state until it runs, for the status line;
- pending / initializing / updating → an invoked request waits for it with progress;
  an automatic one fails at once with a "waking" ``ModelLoadingError``;
- paused → ask the user (``EndpointUI.ask_resume``; never resumed without a yes), then
  resume and wait; an automatic request does not wait for the answer;
- failed → ``EndpointFailedError``.

"Automatic" requests are completions nobody explicitly asked for (ghost text while
typing); the inference client says which are (``InferenceClient.set_preparer``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

from ..config.schema import ModelConfig
from ..config.tokens import resolve_token
from ..inference.errors import (
    AuthError,
    ConnectError,
    InferenceError,
    ModelLoadingError,
    ModelNotFoundError,
)
from ..inference.types import WaitCallback, WaitEvent
from ..log import logger
from .api import (
    FAILED_STATES,
    STARTING_STATES,
    EndpointInfo,
    EndpointsAPI,
    EndpointsAPIError,
)

T = TypeVar("T")

# How long a known state is trusted before the next request asks the API again.
RUNNING_TTL_S = 300.0
OTHER_TTL_S = 5.0
# Resume / start-up waits: endpoints on big GPUs can take minutes.
WAIT_TIMEOUT_S = 900.0
POLL_INTERVAL_S = 2.0
SCALE_UP_HOLD_S = 600.0
# Tests scale the waits of the real server process (like the inference retry policy).
POLL_SCALE_ENV = "BYTEBUDDY_RETRY_SCALE"
# After "Not now", automatic requests do not ask again for this long (invoked ones do).
DECLINE_QUIET_S = 600.0

class EndpointPausedError(InferenceError):
    # The same request succeeds once the endpoint is resumed; the prompt already told
    # the user, so no second message.
    retryable = True
    counts_against_model = False


class EndpointFailedError(InferenceError):
    hint = "See the endpoint's logs on huggingface.co, fix it, then resume it"


class EndpointUI(Protocol):
    """How the manager talks to the user; the LSP server and the CLI implement it."""

    async def ask_resume(self, model: ModelConfig, info: EndpointInfo) -> bool:
        """True only when the user chose to resume."""

    def background_progress(self, title: str) -> BackgroundProgress | None:
        """A progress display for work no request waits on (a resume asked for by an
        automatic request, a warm-up); None when the client cannot show one."""

    def changed(self, model: str) -> None:
        """The endpoint state of ``model`` changed (status line, models table)."""


class BackgroundProgress(Protocol):
    def report(self, message: str) -> None: ...

    def end(self, message: str | None = None) -> None: ...


@dataclass
class _Entry:
    ref: tuple[str | None, str]  # (namespace as configured, name)
    namespace: str | None = None  # resolved (whoami when not configured)
    info: EndpointInfo | None = None
    fetched_at: float = float("-inf")
    error: EndpointsAPIError | None = None
    prompt: asyncio.Future[bool] | None = None
    declined_at: float | None = None
    resume: asyncio.Task[EndpointInfo] | None = None
    resume_shown: bool = False  # the resume has its own progress display
    watcher: asyncio.Task[None] | None = None
    waiters: list[WaitCallback] = field(default_factory=list)
    last_used: float | None = None
    auto_paused: bool = False


def poll_interval() -> float:
    raw = os.environ.get(POLL_SCALE_ENV, "").strip()
    try:
        scale = float(raw) if raw else 1.0
    except ValueError:
        scale = 1.0
    return max(0.02, POLL_INTERVAL_S * (scale if scale > 0 else 1.0))


class EndpointManager:
    def __init__(
        self,
        *,
        ui: EndpointUI | None = None,
        http: httpx.AsyncClient | None = None,
        api_factory: Callable[[ModelConfig], EndpointsAPI] | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float | None = None,
        wait_timeout_s: float = WAIT_TIMEOUT_S,
    ) -> None:
        self.ui = ui
        self._http = http
        self._api_factory = api_factory or self._default_api
        self._clock = clock
        self.poll_s = poll_s if poll_s is not None else poll_interval()
        self.wait_timeout_s = wait_timeout_s
        # How long an invoked request asks a waking endpoint's proxy to hold it.
        self.hold_s = min(wait_timeout_s, SCALE_UP_HOLD_S * (self.poll_s / POLL_INTERVAL_S))
        self._entries: dict[str, _Entry] = {}  # by config model name
        self._models: dict[str, ModelConfig] = {}
        self._idle_pause: dict[str, float] = {}  # model -> seconds (user config only)
        self._idle_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----- configuration -------------------------------------------------------------

    def configure(self, models: list[ModelConfig], *, restricted: bool = False) -> None:
        """The models of the active config. ``restricted``: the config came with a
        workspace, so its ``idlePauseMinutes`` is ignored."""
        wanted = {m.name: m for m in models if m.endpoint is not None}
        for name in list(self._entries):
            model = wanted.get(name)
            old = self._models.get(name)
            if model is None or old is None or old.endpoint != model.endpoint:
                self._drop(name)
        self._models = wanted
        self._idle_pause = {}
        for name, model in wanted.items():
            if model.idlePauseMinutes is None:
                continue
            if restricted:
                logger.warning(
                    "model '%s': idlePauseMinutes is ignored in a workspace config (set it in "
                    "your own ~/.bytebuddy/config.yaml)",
                    name,
                )
                continue
            self._idle_pause[name] = model.idlePauseMinutes * 60.0

    def _drop(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        if entry is None:
            return
        for task in (entry.watcher, entry.resume):
            if task is not None:
                task.cancel()
        if entry.prompt is not None and not entry.prompt.done():
            entry.prompt.cancel()

    async def aclose(self) -> None:
        for name in list(self._entries):
            self._drop(name)
        for task in list(self._tasks):
            task.cancel()
        if self._idle_task is not None:
            self._idle_task.cancel()

    # ----- what editors see ----------------------------------------------------------

    def view(self, model: str) -> dict[str, Any] | None:
        """The ``endpoint`` field of ``bytebuddy/status`` and ``bytebuddy/models`` rows:
        ``{name, namespace?, state, url?, message?, idlePauseMinutes?, autoPaused?}``,
        state ``unknown`` before the first answer, ``error`` when the API fails."""
        config = self._models.get(model)
        if config is None or config.endpoint is None:
            return None
        entry = self._entries.get(model)
        out: dict[str, Any] = {"name": config.endpoint.name, "state": "unknown"}
        namespace = (entry.namespace if entry else None) or config.endpoint.namespace
        if namespace:
            out["namespace"] = namespace
        if entry is not None and entry.info is not None:
            out["state"] = entry.info.state
            if entry.info.url:
                out["url"] = entry.info.url
        if entry is not None and entry.error is not None:
            out["state"] = "error" if entry.info is None else out["state"]
            out["message"] = entry.error.message
        if model in self._idle_pause:
            out["idlePauseMinutes"] = round(self._idle_pause[model] / 60.0, 2)
        if entry is not None and entry.auto_paused:
            out["autoPaused"] = True
        return out

    def info(self, model: str) -> EndpointInfo | None:
        entry = self._entries.get(model)
        return entry.info if entry else None

    def has_endpoint(self, model: str) -> bool:
        return model in self._models

    # ----- the hook before inference -------------------------------------------------

    def resolved(self, model: ModelConfig) -> ModelConfig:
        """The model with its endpoint's URL when known (no API call, no prompt)."""
        if model.endpoint is None:
            return model
        entry = self._entries.get(model.name)
        if entry is None or entry.info is None or entry.info.url is None:
            return model
        return _with_url(model, entry.info.url)

    async def prepare(
        self, model: ModelConfig, on_wait: WaitCallback | None = None, *, automatic: bool = False
    ) -> ModelConfig:
        if model.endpoint is None:
            return model
        self._models.setdefault(model.name, model)
        entry = self._entry(model)
        info = await self._current(entry, model)
        if info is None:  # the API failed; a configured apiBase still works
            if model.apiBase is not None:
                return model
            assert entry.error is not None
            raise _api_failure(model, entry.error)
        if info.state == "paused":
            info = await self._paused(entry, model, info, on_wait, automatic)
        elif info.state in FAILED_STATES:
            raise EndpointFailedError(
                f"the endpoint is {info.state}" + (f" ({info.message})" if info.message else ""),
                model=model.name,
                model_id=model.model,
                user_message=(
                    f"Endpoint '{info.name}' ({model.name}) is {info.state}"
                    + (f": {info.message}" if info.message else "")
                    + ". See its logs on huggingface.co, fix it, then resume it"
                ),
            )
        elif info.state in ("scaledToZero", *STARTING_STATES) and info.url is not None:
            # Reachable but no replica yet: the request itself wakes it. Watch the
            # start-up for the status line; an invoked request asks the proxy to hold
            # it until the replica is up (one request, no 503 round trips).
            self._watch(entry, model)
            if not automatic:
                _tell(on_wait, model, f"Endpoint '{info.name}' is waking up (scaled to zero)")
                return _with_url(model, info.url, hold_s=self.hold_s)
        elif not info.running:
            if automatic:
                self._watch(entry, model)
                raise _waking(model, info)
            info = await self._wait_running(entry, model, on_wait)
        assert info.url is not None
        return _with_url(model, info.url)

    def observe(self, model: ModelConfig, error: BaseException | None) -> None:
        """The outcome of an inference call on ``model``: a success marks it used; an
        error that could mean a state change makes the next call ask the API again."""
        entry = self._entries.get(model.name)
        if entry is None:
            return
        if error is None:
            entry.last_used = self._clock()
            if entry.info is not None and not entry.info.running:
                self._spawn(self.refresh(model))  # it answered: it runs now
            if entry.auto_paused:
                entry.auto_paused = False
                self._changed(model.name)
            return
        if not isinstance(error, Exception):  # cancelled, or a stream closed early
            return
        if isinstance(error, EndpointPausedError | EndpointFailedError):
            return
        entry.fetched_at = float("-inf")
        if isinstance(error, ModelLoadingError) and error.waking:
            self._watch(entry, model)

    def mark_used(self, model: str) -> None:
        entry = self._entries.get(model)
        if entry is not None:
            entry.last_used = self._clock()

    # ----- state ---------------------------------------------------------------------

    def _entry(self, model: ModelConfig) -> _Entry:
        assert model.endpoint is not None
        entry = self._entries.get(model.name)
        ref = (model.endpoint.namespace, model.endpoint.name)
        if entry is None or entry.ref != ref:
            entry = _Entry(ref, namespace=model.endpoint.namespace)
            self._entries[model.name] = entry
        return entry

    def _default_api(self, model: ModelConfig) -> EndpointsAPI:
        # The management API takes a Hugging Face token: the model's apiKey, else the
        # user's HF token (the router's rules, whatever the endpoint URL is).
        token = resolve_token(model.model_copy(update={"apiBase": None}))
        return EndpointsAPI(
            token.value.get_secret_value() if token else None,
            http=self._http,
            verify=model.requestOptions.verifySsl,
        )

    async def _api(self, entry: _Entry, model: ModelConfig) -> tuple[EndpointsAPI, str]:
        api = self._api_factory(model)
        if entry.namespace is None:
            entry.namespace = await api.whoami()
        return api, entry.namespace

    async def refresh(self, model: ModelConfig) -> EndpointInfo | None:
        """Ask the API now; the new state (or the error) is kept and reported."""
        entry = self._entry(model)
        try:
            api, namespace = await self._api(entry, model)
            info = await api.get(namespace, entry.ref[1])
        except EndpointsAPIError as exc:
            changed = entry.error is None or entry.error.message != exc.message
            entry.error, entry.fetched_at = exc, self._clock()
            if changed:
                logger.warning("model '%s': %s", model.name, exc.message)
                self._changed(model.name)
            return None
        self._store(entry, model, info)
        return info

    def _store(self, entry: _Entry, model: ModelConfig, info: EndpointInfo) -> None:
        before = entry.info.state if entry.info else None
        had_error = entry.error is not None
        entry.info, entry.error, entry.fetched_at = info, None, self._clock()
        if info.state != "paused":
            entry.declined_at = None
        if before != info.state or had_error:
            logger.info("endpoint '%s' (model '%s'): %s", info.name, model.name, info.state)
            self._changed(model.name)

    async def _current(self, entry: _Entry, model: ModelConfig) -> EndpointInfo | None:
        info = entry.info
        age = self._clock() - entry.fetched_at
        if info is not None and info.running and age < RUNNING_TTL_S:
            return info
        if info is not None and info.running and entry.fetched_at != float("-inf"):
            # Stale but probably still right: answer now, check in the background.
            self._spawn(self.refresh(model))
            return info
        if info is not None and age < min(OTHER_TTL_S, self.poll_s * 2):
            return info
        if info is None and entry.error is not None and age < OTHER_TTL_S:
            return None
        return await self.refresh(model)

    def _changed(self, model: str) -> None:
        if self.ui is not None:
            try:
                self.ui.changed(model)
            except Exception:
                logger.debug("endpoint change listener failed", exc_info=True)

    def _spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_retrieve)
        return task

    # ----- waiting -------------------------------------------------------------------

    def _watch(self, entry: _Entry, model: ModelConfig) -> None:
        """Poll the state until it runs (or stops changing by itself), so the editor
        sees initializing → running without a request having to ask."""
        if entry.watcher is not None and not entry.watcher.done():
            return

        async def watch() -> None:
            deadline = self._clock() + self.wait_timeout_s
            while self._clock() < deadline:
                info = await self.refresh(model)
                if info is not None and (
                    info.running or info.state in FAILED_STATES or info.state == "paused"
                ):
                    return
                await asyncio.sleep(self.poll_s)

        entry.watcher = self._spawn(watch())

    async def _wait_running(
        self, entry: _Entry, model: ModelConfig, on_wait: WaitCallback | None
    ) -> EndpointInfo:
        info = entry.info
        assert info is not None
        name = info.name
        _tell(on_wait, model, f"Endpoint '{name}' is {info.state}; waiting for it to start")

        api, namespace = await self._api(entry, model)
        try:
            return await self._until_running(
                api, namespace, name, entry, model, lambda text: _tell(on_wait, model, text)
            )
        except EndpointsAPIError as exc:
            raise _api_failure(model, exc) from None

    async def _until_running(
        self,
        api: EndpointsAPI,
        namespace: str,
        name: str,
        entry: _Entry,
        model: ModelConfig,
        tell: Callable[[str], None],
    ) -> EndpointInfo:
        """Poll the endpoint until it runs, storing each state it passes and telling
        those it is not running in."""

        def on_state(new: EndpointInfo) -> None:
            self._store(entry, model, new)
            if not new.running:
                tell(f"Endpoint '{name}' is {new.state}; waiting for it to start")

        return await api.wait(
            namespace,
            name,
            timeout_s=self.wait_timeout_s,
            on_state=on_state,
            interval_s=self.poll_s,
            clock=self._clock,
        )

    async def _paused(
        self,
        entry: _Entry,
        model: ModelConfig,
        info: EndpointInfo,
        on_wait: WaitCallback | None,
        automatic: bool,
    ) -> EndpointInfo:
        paused = EndpointPausedError(
            "the endpoint is paused",
            model=model.name,
            model_id=model.model,
            user_message=(
                f"Endpoint '{info.name}' ({model.name}) is paused: resume it to use this model "
                f"(`bytebuddy-ls endpoint resume {info.name}`)"
            ),
        )
        if entry.resume is not None and not entry.resume.done():
            if automatic:
                raise _waking(model, info)
            return await self._join_resume(entry, model, on_wait)
        if self.ui is None:
            raise paused
        if automatic:
            quiet = (
                entry.declined_at is not None
                and self._clock() - entry.declined_at < DECLINE_QUIET_S
            )
            if not quiet:
                self._ask(entry, model, info)
            raise paused
        answer = await asyncio.shield(self._ask(entry, model, info))
        if not answer:
            raise paused
        return await self._join_resume(entry, model, on_wait)

    def _ask(self, entry: _Entry, model: ModelConfig, info: EndpointInfo) -> asyncio.Future[bool]:
        """One prompt at a time per endpoint; every request joins the open one."""
        if entry.prompt is not None and not entry.prompt.done():
            return entry.prompt
        ui = self.ui
        assert ui is not None

        async def ask() -> bool:
            try:
                yes = await ui.ask_resume(model, info)
            except Exception:
                logger.debug("resume prompt failed", exc_info=True)
                yes = False
            if not yes:
                entry.declined_at = self._clock()
                logger.info("endpoint '%s': not resumed (the user said not now)", info.name)
                return False
            self._start_resume(entry, model)
            return True

        entry.prompt = self._spawn(ask())
        return entry.prompt

    def _start_resume(self, entry: _Entry, model: ModelConfig) -> None:
        """Resume and wait, once per endpoint. The resume has its own progress (it
        outlives the request that asked: a cancelled completion does not stop it);
        without one, the waiting requests' progress shows it."""
        if entry.resume is not None and not entry.resume.done():
            return
        progress = (
            self.ui.background_progress(f"Resuming endpoint {entry.ref[1]}")
            if self.ui is not None
            else None
        )

        entry.resume_shown = progress is not None

        def broadcast(message: str) -> None:
            if progress is not None:
                progress.report(message)
                return
            for waiter in list(entry.waiters):
                _tell(waiter, model, message)

        entry.resume = self._spawn(self._resume_and_wait(entry, model, progress, broadcast))

    async def _resume_and_wait(
        self,
        entry: _Entry,
        model: ModelConfig,
        progress: BackgroundProgress | None,
        broadcast: Callable[[str], None],
    ) -> EndpointInfo:
        """Resume the endpoint and wait until it runs, telling each state it passes; after
        an API failure, its status is fetched again on next use."""
        name = entry.ref[1]
        try:
            api, namespace = await self._api(entry, model)
            broadcast(f"Resuming endpoint '{name}'…")
            info = await api.resume(namespace, name)
            self._store(entry, model, info)
            if info.running:
                return info

            info = await self._until_running(api, namespace, name, entry, model, broadcast)
            self._store(entry, model, info)
            entry.auto_paused = False
            if progress is not None:
                progress.end(f"Endpoint '{name}' is running")
            return info
        except BaseException as exc:
            if progress is not None:
                progress.end(f"Endpoint '{name}' did not start: {exc}")
            if isinstance(exc, EndpointsAPIError):
                entry.fetched_at = float("-inf")
                raise _api_failure(model, exc) from None
            raise

    async def _join_resume(
        self, entry: _Entry, model: ModelConfig, on_wait: WaitCallback | None
    ) -> EndpointInfo:
        assert entry.resume is not None
        if on_wait is not None:
            entry.waiters.append(on_wait)
            if not entry.resume_shown:
                _tell(on_wait, model, f"Resuming endpoint '{entry.ref[1]}'…")
        try:
            return await asyncio.shield(entry.resume)
        finally:
            if on_wait is not None:
                entry.waiters.remove(on_wait)

    # ----- actions (CLI, editor commands) and idle pause -----------------------------

    async def resume(self, model: ModelConfig, on_wait: WaitCallback | None = None) -> EndpointInfo:
        """Resume because the user asked (a command): no prompt."""
        entry = self._entry(model)
        self._start_resume(entry, model)
        return await self._join_resume(entry, model, on_wait)

    async def pause(self, model: ModelConfig) -> EndpointInfo:
        entry = self._entry(model)
        try:
            api, namespace = await self._api(entry, model)
            info = await api.pause(namespace, entry.ref[1])
        except EndpointsAPIError as exc:
            raise _api_failure(model, exc) from None
        self._store(entry, model, info)
        return info

    def start_idle_pause(self) -> None:
        """Check once a minute (scaled in tests) for endpoints idle past their
        ``idlePauseMinutes``; pause those (they stop billing)."""
        if self._idle_task is None or self._idle_task.done():
            self._idle_task = self._spawn(self._idle_loop())

    async def _idle_loop(self) -> None:
        while True:
            await asyncio.sleep(min(60.0, max(self.poll_s, 0.05)))
            await self.pause_idle()

    async def pause_idle(self) -> list[str]:
        """Pause every endpoint idle past its limit; returns the models paused."""
        paused = []
        now = self._clock()
        for name, limit in list(self._idle_pause.items()):
            model = self._models.get(name)
            entry = self._entries.get(name)
            if model is None or entry is None or entry.last_used is None:
                continue
            if now - entry.last_used < limit or entry.info is None:
                continue
            if entry.info.state in ("paused", *FAILED_STATES):
                continue
            try:
                await self.pause(model)
            except InferenceError as exc:
                logger.warning("model '%s': idle pause failed: %s", name, exc.user_message)
                continue
            entry.auto_paused = True
            entry.declined_at = None
            logger.info(
                "endpoint '%s' paused after %g idle minutes", entry.ref[1], limit / 60.0
            )
            self._changed(name)
            paused.append(name)
        return paused


def _with_url(model: ModelConfig, url: str, *, hold_s: float | None = None) -> ModelConfig:
    update: dict[str, Any] = {"apiBase": url}
    if hold_s:
        options = model.requestOptions
        update["requestOptions"] = options.model_copy(
            update={
                "headers": {**options.headers, "X-Scale-Up-Timeout": str(max(1, round(hold_s)))},
                "timeout": options.timeout + hold_s,
            }
        )
    return model.model_copy(update=update)


def _tell(on_wait: WaitCallback | None, model: ModelConfig, message: str) -> None:
    if on_wait is None:
        return
    try:
        on_wait(WaitEvent("waking", model.name, message, None))
    except Exception:
        logger.debug("wait callback failed", exc_info=True)


def _waking(model: ModelConfig, info: EndpointInfo) -> ModelLoadingError:
    return ModelLoadingError(
        f"the endpoint is {info.state}",
        waking=True,
        model=model.name,
        model_id=model.model,
        user_message=f"Endpoint '{info.name}' is starting ({info.state})",
    )


def _api_failure(model: ModelConfig, exc: EndpointsAPIError) -> InferenceError:
    kw: dict[str, Any] = {"model": model.name, "model_id": model.model, "status": exc.status}
    text = f"Model '{model.name}': {exc.message}"
    if exc.kind == "auth":
        return AuthError(exc.message, user_message=text, **kw)
    if exc.kind == "not_found":
        return ModelNotFoundError(exc.message, user_message=text, **kw)
    if exc.kind == "timeout":
        return ModelLoadingError(exc.message, waking=True, user_message=text, **kw)
    if exc.kind == "refused":
        return EndpointFailedError(exc.message, user_message=text, **kw)
    return ConnectError(exc.message, user_message=text, **kw)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


__all__ = [
    "STARTING_STATES",
    "BackgroundProgress",
    "EndpointFailedError",
    "EndpointManager",
    "EndpointPausedError",
    "EndpointUI",
]
