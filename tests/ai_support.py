"""Shared setup for the edit / apply / code-action / chat end-to-end tests: a config that
points the chat, edit and apply roles at the loopback HF server, a session that waits
for the server to be ready, and a client-side applier of LSP text edits (UTF-16)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import client_capabilities

from .hf_server import HFTestServer
from .lsp_harness import Session, running_server

CHAT_MODEL_ID = "test-chat"


def config_text(url: str, *, extra: str = "", prompts: str = "") -> str:
    text = (
        "models:\n"
        "  - name: chat\n"
        "    provider: openai\n"
        f"    model: {CHAT_MODEL_ID}\n"
        f"    apiBase: {url}/v1\n"
        "    apiKey: test-key\n"
        "    roles: [chat, edit, apply]\n"
        "    requestOptions: {timeout: 10}\n"
    )
    text += extra
    if prompts:
        text += f"prompts:\n{prompts}"
    return text


def vscode_capabilities(
    *, resolve: bool = True, create_files: bool = True
) -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    assert caps.text_document is not None and caps.text_document.code_action is not None
    if not resolve:
        caps.text_document.code_action.resolve_support = None
    if not create_files:
        assert caps.workspace is not None and caps.workspace.workspace_edit is not None
        caps.workspace.workspace_edit.resource_operations = None
    return caps


@asynccontextmanager
async def ai_session(
    tmp_path: Path,
    hf_server: HFTestServer,
    *,
    capabilities: types.ClientCapabilities | None = None,
    extra: str = "",
    prompts: str = "",
    init_options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Session]:
    path = tmp_path / "config.yaml"
    path.write_text(config_text(hf_server.url, extra=extra, prompts=prompts))
    async with running_server(
        cwd=tmp_path,
        args=["--config", str(path)],
        capabilities=capabilities or vscode_capabilities(),
        init_options=init_options,
        env=env,
    ) as session:
        fix_code_action_results(session)
        await session.wait_for_status("ready")
        yield session


@dataclass
class Env:
    """One language server shared by the tests of a module (starting one costs about a
    second); ``reset`` forgets what earlier tests scripted and received."""

    hf: HFTestServer
    session: Session
    root: Path

    def reset(self) -> None:
        self.hf.reset()
        self.session.applied_edits.clear()
        self.session.client.messages.clear()
        self.session.client.shown_documents.clear()


def fix_code_action_results(session: Session) -> None:
    """lsprotocol's client-side hook takes any result item with a ``command`` key for a
    ``Command``, so a ``CodeAction`` carrying a command arrives mangled; decide by the
    type of ``command`` as the spec does (a string only in a ``Command``)."""
    converter = session.client.protocol._converter

    def structure(item: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(item.get("command"), str):
            return converter.structure(item, types.Command)
        return converter.structure(item, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


def record_partial_results(session: Session) -> dict[Any, list[Any]]:
    """Capture ``$/progress`` values that are partial results (no ``kind``), which the
    pytest-lsp client's own handler does not accept; work-done progress still goes to it."""
    received: dict[Any, list[Any]] = {}
    features = session.client.protocol.fm.features
    original: Callable[[Any], Any] = features[types.PROGRESS]

    def on_progress(params: types.ProgressParams) -> Any:
        value = params.value
        if isinstance(value, dict) and "kind" not in value:
            received.setdefault(params.token, []).append(value)
            return None
        return original(params)

    features[types.PROGRESS] = on_progress
    return received


def file_uri(path: Path) -> str:
    return path.as_uri()


def chat_requests(hf_server: HFTestServer) -> list[dict[str, Any]]:
    return [r.json for r in hf_server.requests if r.path == "/v1/chat/completions"]


def user_text(request: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def _utf16_index(line: str, character: int) -> int:
    units = 0
    for index, ch in enumerate(line):
        if units >= character:
            return index
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


def offset_of(text: str, position: types.Position) -> int:
    """A code-point offset for an LSP position (UTF-16 columns, lines split on \\n)."""
    starts = [0]
    for index, ch in enumerate(text):
        if ch == "\n":
            starts.append(index + 1)
    if position.line >= len(starts):
        return len(text)
    start = starts[position.line]
    end = text.find("\n", start)
    line = text[start : len(text) if end < 0 else end]
    return start + _utf16_index(line.removesuffix("\r"), position.character)


def apply_text_edits(text: str, edits: Sequence[types.TextEdit]) -> str:
    """What a client does with the edits (all relative to ``text``)."""
    spans = sorted(
        ((offset_of(text, e.range.start), offset_of(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def text_edits_for(edit: types.WorkspaceEdit, uri: str) -> list[types.TextEdit]:
    """The text edits of ``uri`` in a workspace edit (changes or documentChanges)."""
    found: list[types.TextEdit] = []
    if edit.changes:
        found.extend(edit.changes.get(uri, []))
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
            found.extend(e for e in change.edits if isinstance(e, types.TextEdit))
    return found
