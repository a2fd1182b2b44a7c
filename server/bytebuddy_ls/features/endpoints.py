"""Inference Endpoints in the editor: the resume prompt, progress, endpoint state in
``bytebuddy/status`` and ``bytebuddy/models``, warm-up triggers, idle pause, and the
commands ``bytebuddy.resumeEndpoint`` / ``bytebuddy.pauseEndpoint`` /
``bytebuddy.refreshEndpoints``.

The resume prompt is ``window/showMessageRequest`` "Endpoint NAME is paused. Resume?
(it bills while running)" with actions ``Resume`` and ``Not now``; nothing resumes an
endpoint without the ``Resume`` click (or a resume command).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..log import logger
from ..lsp_types import PAUSE_ENDPOINT_COMMAND, REFRESH_ENDPOINTS_COMMAND, RESUME_ENDPOINT_COMMAND
from .progress import create_progress_token

if TYPE_CHECKING:
    from ..config import ModelConfig, Role
    from ..endpoints import EndpointManager, Warmer
    from ..endpoints.api import EndpointInfo
    from ..server import ByteBuddyServer

RESUME_ACTION = "Resume"
NOT_NOW_ACTION = "Not now"


def resume_question(info: EndpointInfo) -> str:
    return f"Endpoint {info.name} is paused. Resume? (it bills while running)"


class _Progress:
    """A server-initiated work-done progress (``window/workDoneProgress/create``)."""

    def __init__(self, server: ByteBuddyServer, title: str) -> None:
        self._server = server
        self._token = create_progress_token(server, "endpoint")
        self._ended = False
        self._cancel: list[Any] = []
        progress = server.work_done_progress
        progress.begin(
            self._token,
            types.WorkDoneProgressBegin(title=title, cancellable=True, message=title + "…"),
        )
        future = progress.tokens.get(self._token)
        if future is not None:
            loop = asyncio.get_running_loop()
            future.add_done_callback(
                lambda f: f.cancelled() and [loop.call_soon_threadsafe(c) for c in self._cancel]
            )

    def on_cancel(self, callback: Any) -> None:
        self._cancel.append(callback)

    def report(self, message: str) -> None:
        if not self._ended:
            self._server.work_done_progress.report(
                self._token, types.WorkDoneProgressReport(message=message)
            )

    def end(self, message: str | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        self._server.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))
        self._server.work_done_progress.tokens.pop(self._token, None)


class LspEndpointUI:
    def __init__(self, server: ByteBuddyServer) -> None:
        self._server = server

    async def ask_resume(self, model: ModelConfig, info: EndpointInfo) -> bool:
        params = types.ShowMessageRequestParams(
            type=types.MessageType.Warning,
            message=resume_question(info),
            actions=[
                types.MessageActionItem(title=RESUME_ACTION),
                types.MessageActionItem(title=NOT_NOW_ACTION),
            ],
        )
        self._server.status.set(
            "error",
            f"Endpoint {info.name} is paused: waiting for your answer",
            model=model.name,
            role=_role_of(self._server, model.name),
        )
        answer = await self._server.window_show_message_request_async(params)
        chosen = answer.title if answer is not None else None
        logger.info("resume endpoint '%s'? the user chose %s", info.name, chosen)
        return chosen == RESUME_ACTION

    def background_progress(self, title: str) -> _Progress | None:
        window = getattr(self._server.client_capabilities, "window", None)
        if not getattr(window, "work_done_progress", False):
            return None
        try:
            return _Progress(self._server, title)
        except Exception:
            logger.debug("cannot create progress", exc_info=True)
            return None

    def changed(self, model: str) -> None:
        endpoint_changed(self._server, model)


def _role_of(server: ByteBuddyServer, model: str) -> str | None:
    """The role ``model`` serves first (autocomplete first: it is what the status shows)."""
    from ..config import ROLES

    roles: list[Role] = ["autocomplete", *[r for r in ROLES if r != "autocomplete"]]
    for role in roles:
        chain = server.config.chain(role)
        if chain and chain[0].name == model:
            return role
    return None


def endpoint_changed(server: ByteBuddyServer, model: str) -> None:
    """Tell the editor: a ``bytebuddy/status`` about this model, carrying its endpoint."""
    view = server.endpoints.manager.view(model)
    role = _role_of(server, model)
    if view is None or role is None:
        return
    name, state = view["name"], view["state"]
    if state == "running":
        server.autocomplete.model_ready(model)
        server.status.set_ready(model=model, role=role)
    elif state in ("pending", "initializing", "updating"):
        server.status.set("loading", f"Endpoint {name} is {state}", model=model, role=role)
    elif state == "scaledToZero":
        server.status.set(
            "ready", f"Endpoint {name} is scaled to zero: the next request wakes it",
            model=model, role=role,
        )
    elif state == "paused":
        how = "paused after idle time" if view.get("autoPaused") else "paused"
        server.status.set(
            "error", f"Endpoint {name} is {how}: resume it to use {model}", model=model, role=role
        )
    elif state in ("failed", "updateFailed"):
        server.status.set("error", f"Endpoint {name} is {state}", model=model, role=role)
    elif state == "error":
        message = view.get("message") or f"Endpoint {name}: unknown state"
        server.status.set("error", message, model=model, role=role)


def _pick(server: ByteBuddyServer, args: tuple[Any, ...]) -> ModelConfig:
    """The model a command names (``{model}``: config model or endpoint name), else the
    first active model with an endpoint."""
    wanted = None
    if len(args) == 1 and isinstance(args[0], dict):
        wanted = args[0].get("model")
    elif len(args) == 1 and isinstance(args[0], str):
        wanted = args[0]
    candidates = [m for m in server.config.models if m.endpoint is not None]
    if wanted is not None:
        for model in candidates:
            assert model.endpoint is not None
            if wanted in (model.name, model.endpoint.name):
                return model
        raise JsonRpcInvalidParams(f"no model with an endpoint named '{wanted}'")
    active = [m for m in candidates if _role_of(server, m.name)]
    if active or candidates:
        return (active or candidates)[0]
    raise JsonRpcInvalidParams("no model in the config has an 'endpoint'")


class Endpoints:
    """The server's endpoint service (``server.endpoints``): state, prompts, warm-up and
    idle pause for the models that name an Inference Endpoint. Created when a config
    first has such a model (or a warm-up): it hooks into the inference client then."""

    def __init__(self, server: ByteBuddyServer) -> None:
        from ..endpoints import EndpointManager, Warmer

        self._server = server
        self.ui = LspEndpointUI(server)
        self.manager: EndpointManager = EndpointManager(ui=self.ui)
        self.warmer: Warmer = Warmer(
            self._warm_call, self.manager, progress=self.ui.background_progress,
            on_change=self._warm_changed,
        )
        server.inference.set_preparer(self)
        server.status.endpoint_view = self.manager.view

    # -- the inference client's preparer -----------------------------------------

    async def prepare(self, model: ModelConfig, on_wait: Any, *, automatic: bool) -> ModelConfig:
        return await self.manager.prepare(model, on_wait, automatic=automatic)

    def resolved(self, model: ModelConfig) -> ModelConfig:
        return self.manager.resolved(model)

    def observe(self, model: ModelConfig, error: BaseException | None) -> None:
        self.manager.observe(model, error)
        if error is None:
            self.warmer.note_success(model.name)

    # -- warm-up -----------------------------------------------------------------

    async def _warm_call(self, model: ModelConfig, on_wait: Any) -> None:
        from ..inference import ChatMessage, GenerationParams

        params = GenerationParams(max_tokens=1)
        inference = self._server.inference
        if "autocomplete" in model.roles and inference.supports_raw_prompt(model) is not False:
            await inference.generate(
                model, "\n", params, on_wait=on_wait, role="autocomplete", operation="warmup"
            )
        else:
            await inference.chat(
                model, [ChatMessage("user", "Hi")], params, on_wait=on_wait,
                role="chat", operation="warmup",
            )

    def _warm_changed(self, model: str, what: str) -> None:
        server = self._server
        role = _role_of(server, model)
        if what == "warm":
            server.autocomplete.model_ready(model)
        if what == "warming" and role is not None:
            server.status.set("loading", f"warming up {model}", model=model, role=role)
        elif role is not None and server.status.current.model == model:
            server.status.set_ready(model=model, role=role)

    # -- lifecycle ---------------------------------------------------------------

    def config_changed(self) -> None:
        from ..config.trust import Provenance

        server = self._server
        loaded = server.config.loaded
        models = list(loaded.config.models) if loaded else []
        # A repository's config (trusted or not) may not pause the user's endpoints.
        restricted = bool(loaded and loaded.provenance is Provenance.WORKSPACE)
        self.manager.configure(models, restricted=restricted)
        self.warmer.configure(models)
        if any(m.idlePauseMinutes for m in models):
            self.manager.start_idle_pause()
        for model in models:
            # Show each active endpoint's state before the first request needs it.
            if model.endpoint is not None and _role_of(server, model.name):
                server.spawn(self.manager.refresh(model))
        self.warmer.on_startup()

    async def aclose(self) -> None:
        self.warmer.cancel_all()
        await self.manager.aclose()


def _wanted(server: ByteBuddyServer) -> bool:
    """Whether the config needs the endpoint service (it is created only then)."""
    return any(m.endpoint is not None or m.warmup != "off" for m in server.config.models)


def register(server: ByteBuddyServer) -> None:
    def config_changed() -> None:
        if server.has_endpoints or _wanted(server):
            server.endpoints.config_changed()

    server.on_config_changed(config_changed)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        if server.has_endpoints:
            server.endpoints.warmer.on_open(params.text_document.language_id)

    @server.command(RESUME_ENDPOINT_COMMAND)
    async def resume(*args: Any) -> dict[str, Any]:
        return await _resume_endpoint(server, args)

    @server.command(PAUSE_ENDPOINT_COMMAND)
    async def pause(*args: Any) -> dict[str, Any]:
        return await _pause_endpoint(server, args)

    @server.command(REFRESH_ENDPOINTS_COMMAND)
    async def refresh(*_args: Any) -> list[dict[str, Any]]:
        return await _refresh_endpoints(server)


async def _resume_endpoint(server: ByteBuddyServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """The resume command: resume and wait; a failure is told once and answered."""
    from ..inference import InferenceError

    model = _pick(server, args)
    manager = server.endpoints.manager
    try:
        await manager.resume(model)
    except InferenceError as exc:
        server.status.show_once(f"endpoint:{model.name}:{exc}", exc.user_message)
        return {"ok": False, "error": exc.user_message, "endpoint": manager.view(model.name)}
    return {"ok": True, "endpoint": manager.view(model.name)}


async def _pause_endpoint(server: ByteBuddyServer, args: tuple[Any, ...]) -> dict[str, Any]:
    """The pause command; warm-ups in flight are cancelled first."""
    from ..inference import InferenceError

    model = _pick(server, args)
    service = server.endpoints
    service.warmer.cancel_all()
    try:
        await service.manager.pause(model)
    except InferenceError as exc:
        return {
            "ok": False, "error": exc.user_message, "endpoint": service.manager.view(model.name)
        }
    return {"ok": True, "endpoint": service.manager.view(model.name)}


async def _refresh_endpoints(server: ByteBuddyServer) -> list[dict[str, Any]]:
    """The refresh command: every configured endpoint's state, fetched afresh."""
    models = [m for m in server.config.models if m.endpoint is not None]
    if not models:
        return []
    manager = server.endpoints.manager
    await asyncio.gather(*(manager.refresh(m) for m in models))
    return [{"model": m.name, **(manager.view(m.name) or {})} for m in models]
