"""Start the real ``bytebuddy-ls`` in a subprocess and talk LSP to it (pytest-lsp client)."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client


def _as_dict(value: Any) -> Any:
    """pygls hands unknown-method params over as namedtuple-like objects."""
    if hasattr(value, "_asdict"):
        return {k: _as_dict(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_as_dict(v) for v in value]
    return value


def inline_capabilities() -> types.ClientCapabilities:
    """VS Code's client capabilities plus inline completion (LSP 3.18)."""
    caps = client_capabilities("visual-studio-code")
    assert caps.text_document is not None
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    return caps


def inline_params(
    uri: str, line: int, character: int, *, invoked: bool = True
) -> types.InlineCompletionParams:
    """An inline completion request at (line, character): invoked (the user asked for it)
    or automatic (while typing)."""
    kind = (
        types.InlineCompletionTriggerKind.Invoked
        if invoked
        else types.InlineCompletionTriggerKind.Automatic
    )
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=kind),
    )


class Session:
    """A running server plus what it sent us."""

    def __init__(self, client: LanguageClient) -> None:
        self.client = client
        self.statuses: list[dict[str, Any]] = []
        self.applied_edits: list[types.ApplyWorkspaceEditParams] = []
        self.initialize_result: types.InitializeResult | None = None
        self.message_requests: list[types.ShowMessageRequestParams] = []
        self.registrations: list[types.Registration] = []

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
    ) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    async def wait_for_status(self, state: str, timeout: float = 10.0) -> dict[str, Any]:
        await self.wait_for(
            lambda: any(s.get("state") == state for s in self.statuses), timeout, f"status {state}"
        )
        return next(s for s in reversed(self.statuses) if s.get("state") == state)

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=version, text=text
                )
            )
        )

    def insert(self, uri: str, version: int, line: int, character: int, text: str) -> None:
        """``didChange`` to ``version``: ``text`` typed at (line, character)."""
        at = types.Position(line=line, character=character)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(range=types.Range(at, at), text=text)
                ],
            )
        )

    async def inline(
        self,
        uri: str,
        line: int,
        character: int,
        *,
        invoked: bool = True,
        msg_id: str | None = None,
    ) -> types.InlineCompletionList | None:
        """``textDocument/inlineCompletion`` (``msg_id``: the request's id, to cancel it by);
        a bare list of items is answered as the list it stands for."""
        result = await self.client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION,
            inline_params(uri, line, character, invoked=invoked),
            msg_id=msg_id,
        )
        if isinstance(result, list):
            return types.InlineCompletionList(items=result)
        answer: types.InlineCompletionList | None = result
        return answer


@asynccontextmanager
async def running_server(
    *,
    cwd: Path,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    init_options: dict[str, Any] | None = None,
    root: Path | None = None,
    capabilities: types.ClientCapabilities | None = None,
    message_answer: str | Callable[[types.ShowMessageRequestParams], Awaitable[str | None]]
    | None = None,
) -> AsyncIterator[Session]:
    """``message_answer``: the action title chosen for every ``window/showMessageRequest``,
    or an async function choosing one per request (None: the request is dismissed)."""
    client = make_test_lsp_client()
    session = Session(client)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    async def on_message_request(
        params: types.ShowMessageRequestParams,
    ) -> types.MessageActionItem | None:
        session.message_requests.append(params)
        titles = [action.title for action in params.actions or []]
        answer = message_answer(params) if callable(message_answer) else message_answer
        title = await answer if inspect.isawaitable(answer) else answer
        return types.MessageActionItem(title=title) if title in titles else None

    @client.feature("bytebuddy/status")
    def on_status(params: Any) -> None:
        try:
            session.statuses.append(params if isinstance(params, dict) else _as_dict(params))
        except Exception as exc:  # surface harness bugs instead of losing statuses
            print("status capture failed:", exc, params, file=sys.stderr)

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def on_register(params: types.RegistrationParams) -> None:
        # An editor accepts dynamic registrations (the file watcher); answering keeps the
        # server's view of the client what it would be in one.
        session.registrations.extend(params.registrations)

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def on_apply(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        session.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    server_env = {**os.environ, "HOME": str(cwd), "HF_HOME": str(cwd / "hf")}
    server_env.pop("HF_TOKEN", None)
    server_env.pop("HF_API_KEY", None)
    server_env.pop("BYTEBUDDY_CONFIG", None)
    server_env.pop("XDG_STATE_HOME", None)  # the state directory (trust, usage) is under HOME
    server_env.update(env or {})
    await client.start_io(
        sys.executable, "-m", "bytebuddy_ls", "serve", *(args or []), env=server_env, cwd=str(cwd)
    )
    try:
        root = root or cwd
        session.initialize_result = await client.initialize_session(
            types.InitializeParams(
                process_id=os.getpid(),
                root_uri=root.as_uri(),
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
                capabilities=capabilities or client_capabilities("visual-studio-code"),
                initialization_options=init_options,
            )
        )
        yield session
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), 10)
        except Exception:
            await client.stop()


class RawConnection:
    """Bytes-level JSON-RPC to the server, for messages a well-behaved client can't send."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.received: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any] | bytes) -> None:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    async def _read_one(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        length = 0
        while True:
            line = await self.process.stdout.readline()
            if not line:
                raise EOFError("server closed stdout")
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            elif line in (b"\r\n", b"\n"):
                break
        data: dict[str, Any] = json.loads(await self.process.stdout.readexactly(length))
        return data

    async def response(self, msg_id: int | str, timeout: float = 10.0) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            for message in self.received:
                if message.get("id") == msg_id and "method" not in message:
                    return message
            while True:
                message = await self._read_one()
                self.received.append(message)
                if message.get("id") == msg_id and "method" not in message:
                    return message

        return await asyncio.wait_for(find(), timeout)


@asynccontextmanager
async def raw_server(
    *, cwd: Path, args: list[str] | None = None, command: tuple[str, ...] = ("serve",)
) -> AsyncIterator[RawConnection]:
    """The server on stdio, started as ``bytebuddy-ls COMMAND ARGS`` (``command=()``: the
    bare form, ``bytebuddy-ls ARGS``)."""
    env = {**os.environ, "HOME": str(cwd)}
    env.pop("BYTEBUDDY_CONFIG", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bytebuddy_ls",
        *command,
        *(args or []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=str(cwd),
        env=env,
    )
    try:
        yield RawConnection(process)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
