"""AI code actions end to end: the real server, the loopback HF server, a pytest-lsp client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .ai_support import (
    Env,
    ai_session,
    apply_text_edits,
    chat_requests,
    file_uri,
    text_edits_for,
    user_text,
    vscode_capabilities,
)
from .hf_server import HFTestServer
from .lsp_harness import Session

SOURCE = (
    "import math\n"
    "\n"
    "\n"
    "def area(r):\n"
    "    if r < 0:\n"
    "        raise ValueError(r)\n"
    "    return math.pi * r * r\n"
    "\n"
    "\n"
    "def main():\n"
    "    print(area(2))\n"
)
# Lines 3-6: the function `area`.
AREA = types.Range(
    start=types.Position(line=3, character=0), end=types.Position(line=7, character=0)
)
PROMPTS = "  - name: Make it async\n    description: async/await\n    prompt: Convert to async.\n"
DIAGNOSTIC = types.Diagnostic(
    range=types.Range(
        start=types.Position(line=6, character=11), end=types.Position(line=6, character=18)
    ),
    message="F821 undefined name 'mathh'",
    severity=types.DiagnosticSeverity.Error,
)


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hf() -> AsyncIterator[HFTestServer]:
    async with HFTestServer() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(hf: HFTestServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    root = tmp_path_factory.mktemp("actions")
    async with ai_session(root, hf, prompts=PROMPTS) as session:
        yield Env(hf, session, root)


@pytest_asyncio.fixture(loop_scope="module")
async def env(shared: Env) -> Env:
    shared.reset()
    return shared


@pytest_asyncio.fixture(loop_scope="module")
async def hf_server(hf: HFTestServer) -> HFTestServer:
    """The module's HF server, reset, for tests that start their own language server."""
    hf.reset()
    return hf


def _open(session: Session, tmp_path: Path, text: str = SOURCE) -> str:
    path = tmp_path / "calc.py"
    path.write_text(text)
    uri = file_uri(path)
    session.open(uri, text)
    return uri


async def _list(
    session: Session,
    uri: str,
    range_: types.Range = AREA,
    *,
    diagnostics: list[types.Diagnostic] | None = None,
    trigger: types.CodeActionTriggerKind = types.CodeActionTriggerKind.Invoked,
    only: list[str] | None = None,
) -> list[types.CodeAction]:
    result = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=range_,
            context=types.CodeActionContext(
                diagnostics=diagnostics or [], trigger_kind=trigger, only=only
            ),
        )
    )
    assert result is not None
    return [a for a in result if isinstance(a, types.CodeAction)]


def _by_title(actions: list[types.CodeAction], word: str) -> types.CodeAction:
    return next(a for a in actions if word in a.title)


async def test_listing_is_instant_and_makes_no_model_call(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    uri = _open(session, tmp_path)
    actions = await _list(session, uri, diagnostics=[DIAGNOSTIC])
    titles = [a.title for a in actions]
    for word in ("Fix", "docstring", "Refactor", "Write tests", "Explain", "Make it async"):
        assert any(word in title for title in titles), (word, titles)
    assert "ByteBuddy: Edit with instruction…" in titles
    assert all(list(a.tags or ()) == [types.CodeActionTag.LlmGenerated] for a in actions)
    assert all(a.edit is None for a in actions)
    fix = _by_title(actions, "Fix")
    assert fix.kind == types.CodeActionKind.QuickFix
    assert fix.data is not None and list(fix.data["diagnostics"]) == [DIAGNOSTIC.message]
    assert _by_title(actions, "Refactor").kind == types.CodeActionKind.RefactorRewrite
    edit_with = _by_title(actions, "Edit with instruction")
    assert edit_with.command is not None and edit_with.command.command == "bytebuddy.edit"
    assert list(edit_with.command.arguments or ()) == [
        {
            "uri": uri,
            "range": {"start": {"line": 3, "character": 0}, "end": {"line": 7, "character": 0}},
        }
    ]
    # Explain changes no text: it is a command that shows the answer.
    explain = _by_title(actions, "Explain")
    assert explain.command is not None and explain.command.command == "bytebuddy.runAction"

    without = await _list(session, uri)
    assert not any("Fix" in a.title for a in without)
    only_fixes = await _list(session, uri, diagnostics=[DIAGNOSTIC], only=["quickfix"])
    assert [a.title for a in only_fixes] == [fix.title]
    cursor = types.Range(start=AREA.start, end=AREA.start)
    quiet = await _list(session, uri, cursor, trigger=types.CodeActionTriggerKind.Automatic)
    assert quiet == []
    assert hf_server.requests == []


@pytest.mark.parametrize("word", ["docstring", "Refactor", "Make it async"])
async def test_resolve_rewrites_exactly_the_selection(env: Env, word: str) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    new_function = (
        'def area(r):\n    """Area of a circle."""\n    if r < 0:\n'
        "        raise ValueError(r)\n    return math.pi * r**2\n"
    )
    hf_server.script(f"Here is the result:\n\n```python\n{new_function}```\n\nDone.")
    uri = _open(session, tmp_path)
    action = _by_title(await _list(session, uri), word)
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None
    edits = text_edits_for(resolved.edit, uri)
    assert len(edits) == 1 and edits[0].range == AREA
    assert "Here is" not in edits[0].new_text and "```" not in edits[0].new_text
    assert apply_text_edits(SOURCE, edits) == SOURCE.replace(
        "def area(r):\n    if r < 0:\n        raise ValueError(r)\n    return math.pi * r * r\n",
        new_function,
    )
    [request] = chat_requests(hf_server)
    assert "return math.pi * r * r" in user_text(request)
    assert session.applied_edits == []  # resolve returns the edit; the client applies it


async def test_fix_sends_the_diagnostics_to_the_model(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    hf_server.script("```python\n    return math.pi * r**2\n```")
    uri = _open(session, tmp_path)
    line = types.Range(
        start=types.Position(line=6, character=0), end=types.Position(line=7, character=0)
    )
    fix = _by_title(await _list(session, uri, line, diagnostics=[DIAGNOSTIC]), "Fix")
    assert list(fix.diagnostics or ()) == [DIAGNOSTIC]
    resolved = await session.client.code_action_resolve_async(fix)
    assert resolved.edit is not None
    [edit] = text_edits_for(resolved.edit, uri)
    assert edit.range == line and edit.new_text == "    return math.pi * r**2\n"
    [request] = chat_requests(hf_server)
    assert "F821 undefined name 'mathh'" in user_text(request)


async def test_empty_selection_takes_the_enclosing_function(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    hf_server.script("```python\ndef area(r):\n    return math.pi * r * r\n```")
    uri = _open(session, tmp_path)
    cursor = types.Position(line=5, character=8)
    actions = await _list(session, uri, types.Range(start=cursor, end=cursor))
    resolved = await session.client.code_action_resolve_async(_by_title(actions, "Refactor"))
    assert resolved.edit is not None
    [edit] = text_edits_for(resolved.edit, uri)
    assert edit.range == AREA


async def test_write_tests_creates_a_file_next_to_the_source(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    tests = "from calc import area\n\n\ndef test_area():\n    assert area(0) == 0\n"
    hf_server.script(f"```python\n{tests}```")
    uri = _open(session, tmp_path)
    action = _by_title(await _list(session, uri), "Write tests")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is not None and resolved.edit.document_changes is not None
    create, insert = resolved.edit.document_changes
    target = file_uri(tmp_path / "test_calc.py")
    assert isinstance(create, types.CreateFile) and create.uri == target
    assert isinstance(insert, types.TextDocumentEdit)
    assert insert.text_document.uri == target
    assert [e.new_text for e in insert.edits if isinstance(e, types.TextEdit)] == [tests]


async def test_write_tests_without_create_support_appends_a_block(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    tests = "def test_area():\n    assert area(0) == 0\n"
    hf_server.script(f"```python\n{tests}```")
    caps = vscode_capabilities(create_files=False)
    async with ai_session(tmp_path, hf_server, capabilities=caps) as session:
        uri = _open(session, tmp_path)
        action = _by_title(await _list(session, uri), "Write tests")
        resolved = await session.client.code_action_resolve_async(action)
        assert resolved.edit is not None
        edits = text_edits_for(resolved.edit, uri)
        assert apply_text_edits(SOURCE, edits) == SOURCE + "\n" + tests


async def test_explain_shows_the_answer_as_a_markdown_document(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    hf_server.script("`area` computes the area of a circle of radius `r`.")
    uri = _open(session, tmp_path)
    explain = _by_title(await _list(session, uri), "Explain")
    assert explain.command is not None
    result = await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command=explain.command.command, arguments=explain.command.arguments
        )
    )
    assert result["content"] == "`area` computes the area of a circle of radius `r`."
    assert result["model"] == "chat"
    [shown] = session.client.shown_documents
    assert shown.uri == result["uri"] and shown.uri.endswith(".md")
    assert "area of a circle" in Path(shown.uri.removeprefix("file://")).read_text()
    assert session.applied_edits == []


async def test_client_without_resolve_gets_a_command_that_applies(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    hf_server.script("```python\ndef area(r):\n    return math.pi * r * r\n```")
    caps = vscode_capabilities(resolve=False)
    async with ai_session(tmp_path, hf_server, capabilities=caps) as session:
        uri = _open(session, tmp_path)
        actions = await _list(session, uri)
        assert all(a.data is None for a in actions)
        action = _by_title(actions, "Refactor")
        assert action.command is not None and action.command.command == "bytebuddy.runAction"
        assert hf_server.requests == []
        result = await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command=action.command.command, arguments=action.command.arguments
            )
        )
        assert result == {"model": "chat", "applied": True}
        [applied] = session.applied_edits
        edits = text_edits_for(applied.edit, uri)
        assert apply_text_edits(SOURCE, edits) == SOURCE.replace(
            "    if r < 0:\n        raise ValueError(r)\n", ""
        )


async def test_answer_without_code_is_reported_not_applied(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    hf_server.script("I cannot improve this code, it is already as good as it gets.")
    uri = _open(session, tmp_path)
    action = _by_title(await _list(session, uri), "Refactor")
    resolved = await session.client.code_action_resolve_async(action)
    assert resolved.edit is None
    await session.wait_for(lambda: bool(session.client.messages), what="a message")
    assert "without code" in session.client.messages[-1].message


async def test_model_failure_answers_with_an_error_and_one_message(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    hf_server.script(status=401)
    async with ai_session(tmp_path, hf_server) as session:
        uri = _open(session, tmp_path)
        action = _by_title(await _list(session, uri), "Refactor")
        for _ in range(2):
            with pytest.raises(JsonRpcException, match="token"):
                await session.client.code_action_resolve_async(action)
        await session.wait_for(lambda: bool(session.client.messages), what="a message")
        auth = [m for m in session.client.messages if "token" in m.message]
        assert len(auth) == 1
        assert session.applied_edits == []


async def test_stale_action_is_refused(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    uri = _open(session, tmp_path)
    action = _by_title(await _list(session, uri), "Refactor")
    session.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x = 1\n")],
        )
    )
    with pytest.raises(JsonRpcException, match="changed"):
        await session.client.code_action_resolve_async(action)
    assert hf_server.requests == []
