"""The language server: a pygls ``LanguageServer`` that wires the features together."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from . import __version__
from .documents import DocumentStore
from .features import LIFECYCLE_METHODS, MANIFEST
from .features.status import StatusReporter
from .log import logger, redact

if TYPE_CHECKING:
    from .config import ConfigState
    from .config.settings import Settings
    from .endpoints import EndpointManager, Warmer
    from .features.autocomplete import Autocomplete
    from .inference import InferenceClient

_IGNORED_MESSAGE = SimpleNamespace(jsonrpc="ignored")
# Set to 1 to register bytebuddy/debug/stats (asyncio tasks, in-flight upstream calls).
DEBUG_REQUESTS_ENV = "BYTEBUDDY_DEBUG_REQUESTS"


class _ClientGoneWriter:
    """Wraps pygls' writer: once the client has closed its end (an editor that quits
    without waiting for ``exit``), stop at once instead of logging a broken pipe for
    every pending message."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer

    def close(self) -> Any:
        return self._writer.close()

    def write(self, data: bytes) -> Any:
        try:
            return self._writer.write(data)
        except (BrokenPipeError, ConnectionResetError):
            logger.info("the client closed the connection; exiting")
            logging.shutdown()
            os._exit(0)


class ByteBuddyProtocol(LanguageServerProtocol):
    """Answers requests whose params do not deserialize with an error response.

    pygls drops such requests silently, which leaves the client waiting forever."""

    def set_writer(self, writer: Any, include_headers: bool = True) -> None:
        super().set_writer(_ClientGoneWriter(writer), include_headers)

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "method" in data and data.get("id") is not None:
                method = data.get("method")
                # Whatever pygls raised, the request could not be read: InvalidParams.
                error = JsonRpcInvalidParams(f"invalid params for {method}: {exc.message}")
                self._send_response(data["id"], error=error.to_response_error())
            else:
                logger.warning("ignoring malformed notification %r", data.get("method"))
            return _IGNORED_MESSAGE

    # The spec's lifecycle rules, which pygls leaves out: before ``initialize`` a request
    # gets ServerNotInitialized (pygls ran the handler and answered with a traceback) and
    # a notification is dropped; after ``shutdown`` a request gets InvalidRequest (pygls
    # dropped it, leaving the client waiting forever). ``exit`` always goes through.
    _initialize_seen = False

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method is not None and method != types.EXIT:
            if method == types.INITIALIZE:
                self._initialize_seen = True
            elif self._shutdown or not self._initialize_seen:
                if msg_id is not None:
                    error = (
                        JsonRpcInvalidRequest(f"{method}: the server is shutting down")
                        if self._shutdown
                        else JsonRpcServerNotInitialized(f"{method}: initialize first")
                    )
                    self._send_response(msg_id, error=error.to_response_error())
                return
        super().handle_message(message)

    # Document sync goes to our DocumentStore instead of pygls' workspace, whose
    # incremental update re-splits the whole file on every keystroke.
    def _documents(self) -> DocumentStore:
        server: ByteBuddyServer = self._server  # type: ignore[assignment]
        return server.documents

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        self._documents().open(params.text_document)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        if self._documents().change(params) is None:
            logger.debug("didChange for unopened %s ignored", params.text_document.uri)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        self._documents().close(params.text_document.uri)
        server: ByteBuddyServer = self._server  # type: ignore[assignment]
        if server.loaded:
            server.autocomplete.forget(params.text_document.uri)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Any:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None


class _Registrar:
    """Stands in for the server while a feature module's ``register`` runs: it collects
    the handlers the module declares; everything else goes to the real server."""

    def __init__(self, server: ByteBuddyServer) -> None:
        object.__setattr__(self, "_server", server)
        object.__setattr__(self, "features", {})
        object.__setattr__(self, "commands", {})

    def feature(self, method: str, options: Any = None) -> Callable[[Any], Any]:
        def collect(handler: Any) -> Any:
            self.features[method] = (handler, options)
            return handler

        return collect

    def command(self, name: str) -> Callable[[Any], Any]:
        def collect(handler: Any) -> Any:
            self.commands[name] = handler
            return handler

        return collect

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._server, name, value)


class ByteBuddyServer(LanguageServer):
    """Constructed light: configuration, inference and the feature modules load after
    the ``initialize`` handshake (see ``features.MANIFEST``)."""

    settings: Settings
    config: ConfigState
    inference: InferenceClient
    autocomplete: Autocomplete
    endpoints: EndpointManager
    warmer: Warmer

    def __init__(self, *, config_flag: str | None = None, log_file: str | None = None) -> None:
        super().__init__(
            "bytebuddy-ls",
            __version__,
            protocol_cls=ByteBuddyProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.config_flag = config_flag
        self.log_file = log_file
        self.status = StatusReporter(self)
        self.documents = DocumentStore()
        self.loaded = False
        self._initialize_params: types.InitializeParams | None = None
        self._handlers: dict[str, Any] = {}
        self._commands: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._config_listeners: list[Callable[[], None]] = []
        self._model_extras: list[Callable[[str], dict[str, Any]]] = []

    def load(self) -> None:
        """Import configuration, inference and every feature module, and register their
        handlers. Runs once: at ``initialized``, or at the first request before it."""
        if self.loaded:
            return
        self.loaded = True
        from .config import ConfigState
        from .config.settings import Settings
        from .features.autocomplete import Autocomplete
        from .inference import InferenceClient

        self.settings = Settings()
        self.config = ConfigState(flag=self.config_flag)
        self.inference = InferenceClient()
        self.autocomplete = Autocomplete(
            self.inference,
            self.config.chain,
            debounce_ms=lambda: self.settings.autocomplete.debounceMs,
            workspace_root=lambda: str(self.config.workspace_root or "") or None,
        )
        self.on_config_changed(self._config_changed)
        self.add_model_extras(lambda name: {"health": self.inference.model_health(name)})
        self.add_model_extras(
            lambda name: {"stats": {"autocomplete": self.autocomplete.model_stats(name)}}
        )
        registrar = _Registrar(self)
        for module in MANIFEST:
            importlib.import_module(f".features.{module.name}", __package__).register(
                cast(ByteBuddyServer, registrar)
            )
        self._handlers = {m: handler for m, (handler, _) in registrar.features.items()}
        self._commands = dict(registrar.commands)
        if self._initialize_params is not None:
            self._handlers[types.INITIALIZE](self._initialize_params)

    def _proxy(self, method: str) -> Callable[[Any], Any]:
        async def handle(params: Any) -> Any:
            self.load()
            result = self._handlers[method](params)
            return await result if inspect.isawaitable(result) else result

        return handle

    def _command_proxy(self, name: str) -> Callable[..., Any]:
        async def run(*args: Any) -> Any:
            self.load()
            result = self._commands[name](*args)
            return await result if inspect.isawaitable(result) else result

        return run

    def register_manifest(self) -> None:
        """Advertise every feature now; the handlers behind them load later."""

        @self.feature(types.INITIALIZE)
        def on_initialize(params: types.InitializeParams) -> None:
            self._initialize_params = params

        @self.feature(types.INITIALIZED)
        def on_initialized(params: types.InitializedParams) -> None:
            self.load()
            self._handlers[types.INITIALIZED](params)

        for module in MANIFEST:
            for method, options in module.methods.items():
                if method not in LIFECYCLE_METHODS:
                    self.feature(method, options)(self._proxy(method))
            for name in module.commands:
                self.command(name)(self._command_proxy(name))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task, keeping a reference so it is not garbage-collected."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def on_config_changed(self, listener: Callable[[], None]) -> None:
        self._config_listeners.append(listener)

    def notify_config_changed(self) -> None:
        for listener in self._config_listeners:
            try:
                listener()
            except Exception:
                logger.exception("config listener failed")

    def add_model_extras(self, provider: Callable[[str], dict[str, Any]]) -> None:
        """Features add per-model figures (health, shown/accepted) to ``bytebuddy/models``."""
        self._model_extras.append(provider)

    def model_extras(self, name: str) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        for provider in self._model_extras:
            extras.update(provider(name))
        return extras

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Malformed input is logged, not shown: a popup per bad message helps no one.
        logger.error(
            "server error (%s): %s", getattr(source, "__name__", source), redact(str(error))
        )

    def _config_changed(self) -> None:
        from .inference import HostPolicy

        loaded = self.config.loaded
        self.inference.set_host_policy(HostPolicy.for_config(loaded) if loaded else HostPolicy())
        self.autocomplete.clear_cache()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.loaded:
            self.warmer.cancel_all()
            await self.endpoints.aclose()
            await self.inference.aclose()


def build_server(*, config_flag: str | None = None, log_file: str | None = None) -> ByteBuddyServer:
    server = ByteBuddyServer(config_flag=config_flag, log_file=log_file)
    server.register_manifest()

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(_params: Any) -> None:
        await server.aclose()

    if os.environ.get(DEBUG_REQUESTS_ENV) == "1":
        # Internals for the soak benchmark (bench/soak.py); not part of the LSP surface.
        @server.feature("bytebuddy/debug/stats")
        def debug_stats(_params: Any) -> dict[str, int]:
            flights = len(server.autocomplete._flights) if server.loaded else 0
            return {
                "tasks": len(asyncio.all_tasks()),
                "inFlight": flights,
                "documents": len(server.documents._documents),
            }

    return server
