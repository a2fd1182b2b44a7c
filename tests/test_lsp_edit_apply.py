"""``bytebuddy.edit`` and ``bytebuddy.apply`` end to end (real server, loopback HF server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from bytebuddy_ls.prompting.blocks import enclosing_block

from .ai_support import (
    Env,
    ai_session,
    apply_text_edits,
    chat_requests,
    file_uri,
    text_edits_for,
    user_text,
)
from .hf_server import HFTestServer
from .lsp_harness import Session

pytestmark = pytest.mark.asyncio(loop_scope="module")

# A text-generation endpoint with its own edit template (a chat fallback, so it serves
# the edit role only when selected).
TEMPLATED_MODEL = (
    "  - name: templated\n"
    "    provider: huggingface-tgi\n"
    "    model: bigcode/starcoder2-3b\n"
    "    apiBase: {url}\n"
    "    roles: [chat]\n"
    "    promptTemplates:\n"
    "      edit: '<edit>{{{{instruction}}}}|{{{{codeToEdit}}}}</edit>'\n"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hf() -> AsyncIterator[HFTestServer]:
    async with HFTestServer() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(hf: HFTestServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    root = tmp_path_factory.mktemp("edits")
    async with ai_session(root, hf, extra=TEMPLATED_MODEL.format(url=hf.url)) as session:
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


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position_of(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return types.Position(line=line, character=utf16_len(text[start:offset]))


def range_of(text: str, start: int, end: int) -> dict[str, Any]:
    def pos(offset: int) -> dict[str, int]:
        p = position_of(text, offset)
        return {"line": p.line, "character": p.character}

    return {"start": pos(start), "end": pos(end)}


async def run(session: Session, command: str, args: dict[str, Any]) -> Any:
    return await session.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[args])
    )


def open_file(session: Session, tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_bytes(text.encode())
    uri = file_uri(path)
    session.open(uri, text)
    return uri


def last_edits(session: Session, uri: str) -> list[types.TextEdit]:
    return text_edits_for(session.applied_edits[-1].edit, uri)


# ---------------------------------------------------------------------------
# bytebuddy.edit

CRLF_TEXT = (
    "# 日本語のコメント 🎉\r\n"
    "def greet(name):\r\n"
    '    msg = "héllo 🌍" + name\r\n'
    "    return msg\r\n"
    "\r\n"
    "print(greet('世界'))\r\n"
)


async def test_edit_replaces_exactly_the_range_crlf_and_non_ascii(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    uri = open_file(session, tmp_path, "greet.py", CRLF_TEXT)

    # Inside a line, after an astral-plane character (2 UTF-16 units).
    start = CRLF_TEXT.index("🌍") + 1
    end = CRLF_TEXT.index(" + name") + len(" + name")
    hf_server.script('Sure! Here you go:\n```python\n ✨" + name.title()\n```\nEnjoy.')
    result = await run(
        session,
        "bytebuddy.edit",
        {"uri": uri, "range": range_of(CRLF_TEXT, start, end), "instruction": "sparkle"},
    )
    assert result == {"applied": True, "model": "chat"}
    [edit] = last_edits(session, uri)
    assert edit.range.start == position_of(CRLF_TEXT, start)
    assert edit.range.end == position_of(CRLF_TEXT, end)
    assert edit.new_text == ' ✨" + name.title()'
    assert apply_text_edits(CRLF_TEXT, [edit]) == CRLF_TEXT.replace(
        '"héllo 🌍" + name', '"héllo 🌍 ✨" + name.title()'
    )

    # Whole lines: the answer's LF code comes back CRLF and indented like the lines.
    start = CRLF_TEXT.index("    msg")
    end = CRLF_TEXT.index("\r\n\r\nprint") + 2
    hf_server.script(
        '```python\nmsg = f"héllo 🌍 {name}"\nif not name:\n    msg = "?"\nreturn msg\n```'
    )
    await run(
        session,
        "bytebuddy.edit",
        {"uri": uri, "range": range_of(CRLF_TEXT, start, end), "instruction": "f-string"},
    )
    [edit] = last_edits(session, uri)
    assert (edit.range.start.line, edit.range.end.line) == (2, 4)
    assert edit.range.start.character == edit.range.end.character == 0
    assert edit.new_text == (
        '    msg = f"héllo 🌍 {name}"\r\n    if not name:\r\n'
        '        msg = "?"\r\n    return msg\r\n'
    )
    after = apply_text_edits(CRLF_TEXT, [edit])
    assert after.startswith(CRLF_TEXT[:start]) and after.endswith(CRLF_TEXT[end:])

    [first, _second] = chat_requests(hf_server)
    assert "sparkle" in user_text(first) and "greet.py" in user_text(first)


async def test_edit_renders_the_configured_text_template(env: Env) -> None:
    session, hf = env.session, env.hf
    select = {"role": "edit", "name": "templated"}
    assert await run(session, "bytebuddy.selectModel", select) == select
    try:
        text = "def f():\n    return 1\n"
        uri = open_file(session, env.root, "t.py", text)
        hf.script("```python\nreturn 2\n```")
        lines = {"start": {"line": 1, "character": 0}, "end": {"line": 2, "character": 0}}
        result = await run(
            session, "bytebuddy.edit", {"uri": uri, "range": lines, "instruction": "two"}
        )
        assert result == {"applied": True, "model": "templated"}
        [edit] = last_edits(session, uri)
        assert edit.new_text == "    return 2\n"
        [request] = [r.json for r in hf.requests if isinstance(r.json, dict) and "inputs" in r.json]
        assert request["inputs"] == "<edit>two|    return 1\n</edit>"
        assert chat_requests(hf) == []
    finally:
        await run(session, "bytebuddy.selectModel", {"role": "edit", "name": "chat"})


async def test_cancelling_an_edit_stops_the_model_and_applies_nothing(env: Env) -> None:
    session, hf = env.session, env.hf
    text = "def f():\n    return 1\n"
    uri = open_file(session, env.root, "slow.py", text)
    hf.script("```python\n    return 2\n```", delay_s=5)
    params = types.ExecuteCommandParams(
        command="bytebuddy.edit",
        arguments=[{"uri": uri, "range": range_of(text, 9, len(text)), "instruction": "2"}],
    )
    pending = asyncio.ensure_future(
        session.client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND, params, "edit-cancel-1"
        )
    )
    await session.wait_for(lambda: bool(chat_requests(hf)), what="the model call")
    session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="edit-cancel-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(pending, 5)
    assert await hf.wait_for_disconnect(timeout=3)
    await asyncio.sleep(0.2)
    assert session.applied_edits == []


async def test_edit_answer_without_code_or_instruction_changes_nothing(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    text = "def f():\n    return 1\n"
    hf_server.script("I'm sorry, but I can't help with that request because it is unclear.")
    uri = open_file(session, tmp_path, "f.py", text)
    args = {"uri": uri, "range": range_of(text, 0, len(text)), "instruction": "do it"}
    result = await run(session, "bytebuddy.edit", args)
    assert result["applied"] is False
    await session.wait_for(lambda: bool(session.client.messages), what="a message")
    assert "without code" in session.client.messages[-1].message
    with pytest.raises(JsonRpcException, match="instruction"):
        await run(session, "bytebuddy.edit", {**args, "instruction": " "})
    with pytest.raises(JsonRpcException, match="unknown document"):
        await run(session, "bytebuddy.edit", {**args, "uri": "untitled:nothing"})
    assert session.applied_edits == []
    assert len(chat_requests(hf_server)) == 1


# ---------------------------------------------------------------------------
# bytebuddy.apply

LONG = "".join(
    f"def f{i}(x):\n    '''Function {i}, ünïcode ✓.'''\n    return x + {i}\n\n\n" for i in range(12)
)


async def test_apply_is_minimal_and_needs_no_model(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    # The whole file with one line changed: one one-line edit.
    uri = open_file(session, tmp_path, "long.py", LONG)
    whole = LONG.replace("return x + 7\n", "return x + 700\n")
    result = await run(session, "bytebuddy.apply", {"uri": uri, "code": whole})
    assert result == {"applied": True, "kind": "whole_file", "edits": 1}
    [edit] = last_edits(session, uri)
    line = LONG[: LONG.index("return x + 7\n")].count("\n")
    assert (edit.range.start.line, edit.range.end.line) == (line, line + 1)
    assert edit.new_text == "    return x + 700\n"
    assert apply_text_edits(LONG, [edit]) == whole

    # A fragment (one function) located by its first and last lines.
    fragment = "def f3(x):\n    '''Function 3, ünïcode ✓.'''\n    return x * 3\n"
    result = await run(session, "bytebuddy.apply", {"uri": uri, "code": fragment})
    assert result["kind"] == "fragment" and result["edits"] == 1
    [edit] = last_edits(session, uri)
    assert edit.new_text == "    return x * 3\n"
    assert apply_text_edits(LONG, [edit]) == LONG.replace("x + 3\n", "x * 3\n")

    # An explicit range, in a CRLF file: the code takes the file's line endings.
    crlf_uri = open_file(session, tmp_path, "crlf.py", CRLF_TEXT)
    lines = {"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 0}}
    result = await run(
        session,
        "bytebuddy.apply",
        {"uri": crlf_uri, "code": "    return msg.strip()\n", "range": lines},
    )
    assert result["kind"] == "range"
    [edit] = last_edits(session, crlf_uri)
    assert edit.new_text == "    return msg.strip()\r\n"
    assert edit.range == types.Range(
        start=types.Position(line=3, character=0), end=types.Position(line=4, character=0)
    )

    # Already there: nothing applied.
    applied = len(session.applied_edits)
    result = await run(session, "bytebuddy.apply", {"uri": uri, "code": LONG})
    assert result["applied"] is False and result["kind"] == "no_change"
    assert len(session.applied_edits) == applied
    assert hf_server.requests == []


async def test_apply_guard_refuses_unmentioned_deletions(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    uri = open_file(session, tmp_path, "long.py", LONG)
    # Same first and last lines, most of the middle gone.
    lines = LONG.splitlines(keepends=True)
    truncated = "".join(lines[:5] + lines[-5:])
    result = await run(session, "bytebuddy.apply", {"uri": uri, "code": truncated})
    assert result["applied"] is False and result["kind"] == "refused"
    assert "refusing to apply" in result["reason"]
    await session.wait_for(lambda: bool(session.client.messages), what="a message")
    assert "refusing to apply" in session.client.messages[-1].message
    assert session.applied_edits == []
    assert hf_server.requests == []


async def test_apply_with_placeholders_merges_with_the_apply_model(env: Env) -> None:
    session, hf_server, tmp_path = env.session, env.hf, env.root
    block = "# ... existing code ...\n\n\ndef helper():\n    return 42\n"
    merged = LONG + "def helper():\n    return 42\n"
    uri = open_file(session, tmp_path, "long.py", LONG)
    hf_server.script(f"Here is the merged file:\n```python\n{merged}```")
    result = await run(session, "bytebuddy.apply", {"uri": uri, "code": block})
    assert result == {"applied": True, "kind": "merged", "model": "chat", "edits": 1}
    [edit] = last_edits(session, uri)
    assert edit.range.start == edit.range.end  # a pure insertion at the end
    assert apply_text_edits(LONG, [edit]) == merged

    # The model drops most of the file: the guard refuses it.
    hf_server.script(f"```python\n{LONG[:80]}\ndef helper():\n    return 42\n```")
    result = await run(session, "bytebuddy.apply", {"uri": uri, "code": block})
    assert result["applied"] is False and result["kind"] == "refused"
    assert len(session.applied_edits) == 1
    first, _ = chat_requests(hf_server)
    assert "existing code" in user_text(first) and "def f11(x):" in user_text(first)


async def test_apply_model_failure_is_an_error_and_applies_nothing(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    hf_server.script(status=402)
    async with ai_session(tmp_path, hf_server) as session:
        uri = open_file(session, tmp_path, "long.py", LONG)
        with pytest.raises(JsonRpcException, match="credits"):
            await run(session, "bytebuddy.apply", {"uri": uri, "code": "# ...\nx = 1\n"})
        assert session.applied_edits == []
        await session.wait_for_status("error")


# ---------------------------------------------------------------------------
# The enclosing block of an empty selection (a pure function)


async def test_enclosing_block_heuristic() -> None:
    python = [
        "import os",
        "",
        "@cache",
        "def outer(x):",
        "    if x:",
        "        return 1",
        "",
        "    return 2",
        "",
        "y = outer(1)",
    ]
    assert enclosing_block(python, 5) == (2, 8)  # the function with its decorator
    assert enclosing_block(python, 3) == (2, 8)  # on the header itself
    assert enclosing_block(python, 6) == (2, 8)  # a blank line inside it
    assert enclosing_block(python, 9) == (9, 10)  # module-level code: the line
    assert enclosing_block(python, 8) == (8, 9)  # a blank line after the block
    braces = ["class A {", "  run() {", "    if (a) {", "      b();", "    }", "  }", "}"]
    assert enclosing_block(braces, 3) == (0, 7)
    js = ["const f = () => {", "  return 1;", "};", "g();"]
    assert enclosing_block(js, 1) == (0, 3)
    assert enclosing_block(js, 3) == (3, 4)
    assert enclosing_block([], 0) == (0, 0)
