"""The JSON-RPC layer under the server: pygls' ``LanguageServerProtocol`` with the spec's
rules pygls leaves out, and ByteBuddy's own request types.

This is the one module that touches pygls internals (``_send_response``, ``_shutdown``,
``_server``, ``_request_futures``, ``_converter``, ``fm``, ``_stop_event``): pygls has
no public hook for answering a request it could not read, for the lifecycle errors, for
feeding document sync to our own store, or for linking ``$/cancelRequest`` to a command's
task. Keep every such use here, each with its reason, so a pygls upgrade has one place to
check (the other is ``transport.py``, which replaces pygls' message loops).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Generator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .log import logger
from .lsp_types import CUSTOM_MESSAGE_TYPES

if TYPE_CHECKING:
    from .server import ByteBuddyServer

T = TypeVar("T")
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
    """pygls' protocol plus: an error answer for requests whose params do not
    deserialize (pygls drops them, leaving the client waiting forever), the lifecycle
    rules, typed params for ``bytebuddy/*`` requests, and document sync into the
    server's :class:`~bytebuddy_ls.documents.DocumentStore`."""

    def set_writer(self, writer: Any, include_headers: bool = True) -> None:
        super().set_writer(_ClientGoneWriter(writer), include_headers)

    @functools.lru_cache  # noqa: B019  (one protocol per process; runs for every message)
    def get_message_type(self, method: str) -> type[Any] | None:
        custom = CUSTOM_MESSAGE_TYPES.get(method)
        return custom if custom is not None else super().get_message_type(method)

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "method" in data and data.get("id") is not None:
                method = data.get("method")
                # Whatever pygls raised, the request could not be read: InvalidParams.
                cause = exc.__cause__
                detail = _describe(cause) if cause is not None else exc.message
                error = JsonRpcInvalidParams(f"invalid params for {method}: {detail}")
                self._send_response(data["id"], error=error.to_response_error())
            else:
                logger.warning("ignoring malformed notification %r", data.get("method"))
            return _IGNORED_MESSAGE

    # The spec's lifecycle rules: before ``initialize`` a request gets
    # ServerNotInitialized (pygls would run the handler) and a notification is dropped;
    # after ``shutdown`` a request gets InvalidRequest (pygls would drop it, leaving the
    # client waiting forever). ``exit`` always goes through.
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

    def structure(self, data: Any, cls: type[T]) -> T:
        """``data`` (JSON) as ``cls``, the way pygls reads params; InvalidParams if not."""
        try:
            return self._converter.structure(data, cls)
        except Exception as exc:
            raise JsonRpcInvalidParams(f"{cls.__name__}: {_describe(exc)}") from None

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(
        self, params: types.ExecuteCommandParams
    ) -> Generator[Any, Any, Any]:
        # pygls converts the arguments to the handler's annotated types; absent
        # arguments count as none (pygls would call the handler without its argument),
        # and a conversion error names the field instead of "While structuring …".
        if params.arguments is None:
            params.arguments = []
        try:
            return (yield from super().lsp_workspace__execute_command(params))
        except JsonRpcInvalidParams as exc:
            cause = exc.__context__
            if cause is None:
                raise
            raise JsonRpcInvalidParams(
                f"{params.command}: {_describe(cause, 'arguments[0]')}"
            ) from None

    def cancel_task_with_request(self) -> None:
        """Make ``$/cancelRequest`` of the current request cancel the running task.

        pygls runs a command handler as a task of its own and cancels only the request's
        outer future; without this link the model call would go on and its edit would
        be applied after the user cancelled. Call at the start of an async handler.
        """
        msg_id = self.msg_id
        outer = self._request_futures.get(msg_id) if msg_id is not None else None
        task = asyncio.current_task()
        if outer is None or task is None:
            return

        def on_done(future: Any) -> None:
            if future.cancelled() and not task.done():
                task.cancel()

        outer.add_done_callback(on_done)

    # Document sync goes to our DocumentStore instead of pygls' workspace, whose
    # incremental update re-splits the whole file on every keystroke. These replace
    # pygls' built-in handlers of the same methods; a feature's own handler still runs.
    def _bytebuddy(self) -> ByteBuddyServer:
        return self._server  # type: ignore[return-value]

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        self._bytebuddy().documents.open(params.text_document)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        if self._bytebuddy().documents.change(params) is None:
            logger.debug("didChange for unopened %s ignored", params.text_document.uri)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        self._bytebuddy().documents.close(params.text_document.uri)
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None


def _describe(error: BaseException, path: str = "params") -> str:
    """A cattrs structuring error as ``problem @ field`` parts a user can act on."""
    from cattrs import BaseValidationError, transform_error

    if isinstance(error, BaseValidationError):
        return "; ".join(transform_error(error, path=path))
    return str(error) or type(error).__name__
