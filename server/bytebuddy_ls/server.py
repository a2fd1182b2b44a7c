"""The language server: a pygls ``LanguageServer`` that wires the features together."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any

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
from .config import ConfigState
from .config.settings import Settings
from .documents import DocumentStore
from .features import (
    apply,
    chat,
    code_actions,
    completion,
    configuration,
    edit,
    inline_completion,
    models,
)
from .features.autocomplete import Autocomplete
from .features.status import StatusReporter
from .inference import HostPolicy, InferenceClient
from .log import logger, redact

_IGNORED_MESSAGE = SimpleNamespace(jsonrpc="ignored")


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
        server.autocomplete.forget(params.text_document.uri)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Any:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None


class ByteBuddyServer(LanguageServer):
    def __init__(self, *, config_flag: str | None = None, log_file: str | None = None) -> None:
        super().__init__(
            "bytebuddy-ls",
            __version__,
            protocol_cls=ByteBuddyProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.config_flag = config_flag
        self.log_file = log_file
        self.settings = Settings()
        self.config = ConfigState(flag=config_flag)
        self.status = StatusReporter(self)
        self.documents = DocumentStore()
        self.inference = InferenceClient()
        self.autocomplete = Autocomplete(
            self.inference,
            self.config.chain,
            debounce_ms=lambda: self.settings.autocomplete.debounceMs,
            workspace_root=lambda: str(self.config.workspace_root or "") or None,
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._config_listeners: list[Callable[[], None]] = []
        self._model_extras: list[Callable[[str], dict[str, Any]]] = []

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
        loaded = self.config.loaded
        self.inference.set_host_policy(HostPolicy.for_config(loaded) if loaded else HostPolicy())
        self.autocomplete.clear_cache()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.inference.aclose()


def build_server(*, config_flag: str | None = None, log_file: str | None = None) -> ByteBuddyServer:
    server = ByteBuddyServer(config_flag=config_flag, log_file=log_file)
    server.on_config_changed(server._config_changed)
    server.add_model_extras(lambda name: {"health": server.inference.model_health(name)})
    server.add_model_extras(
        lambda name: {"stats": {"autocomplete": server.autocomplete.model_stats(name)}}
    )
    configuration.register(server)
    models.register(server)
    inline_completion.register(server)
    completion.register(server)
    edit.register(server)
    apply.register(server)
    code_actions.register(server)
    chat.register(server)

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(_params: Any) -> None:
        await server.aclose()

    return server
