"""Inline completion end to end: the real server, the loopback HF server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import client_capabilities

from .hf_server import HFTestServer
from .lsp_harness import inline_capabilities, running_server

URI = "file:///work/demo.py"


def config_for(hf: HFTestServer, **options: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "name": "fim",
        "provider": "huggingface-tgi",
        "model": "bigcode/starcoder2-3b",
        "apiBase": hf.url,
        "apiKey": "test-key",
        "roles": ["autocomplete"],
    }
    model.update(options)
    return {"models": [model]}


def generation_requests(hf: HFTestServer) -> list[Any]:
    return [r for r in hf.requests if r.path in ("/generate", "/generate_stream", "/")]


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, Any]:
    return {"cwd": tmp_path, "capabilities": inline_capabilities()}


async def test_advertises_inline_completion(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        caps = s.initialize_result.capabilities  # type: ignore[union-attr]
        assert caps.inline_completion_provider is not None
        assert caps.completion_provider is not None


async def test_fim_prompt_and_suggestion(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="return a + b<|endoftext|>ignored")
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def add(a, b):\n    \n\nprint(add(1, 2))\n")
        result = await s.inline(URI, 1, 4)
        assert result is not None and len(result.items) == 1
        item = result.items[0]
        assert item.insert_text == "return a + b"
        assert item.range == types.Range(types.Position(1, 4), types.Position(1, 4))
        assert item.command is not None and item.command.command == "bytebuddy.acceptCompletion"
        (request,) = generation_requests(hf_server)
        prompt = request.json["inputs"]
        assert prompt.startswith("<fim_prefix>def add(a, b):\n    <fim_suffix>")
        assert prompt.endswith("print(add(1, 2))\n<fim_middle>")
        assert request.headers.get("Authorization") == "[REDACTED]"  # sent, not recorded


async def test_unicode_crlf_and_auto_closed_bracket(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="'日本', 😀)")
    text = "# 日本語 😀 comment\r\nvalue = f()\r\nprint(value)\r\n"
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, text)
        result = await s.inline(URI, 1, 10)  # between "(" and ")"
        assert result is not None and len(result.items) == 1
        item = result.items[0]
        assert isinstance(item.insert_text, str) and item.range is not None
        # Accepting it closes the call exactly once: the ")" after the cursor is either
        # left out of the suggestion or covered by its range, never duplicated.
        line = "value = f()".encode("utf-16-le")
        start, end = item.range.start.character * 2, item.range.end.character * 2
        accepted = line[:start] + item.insert_text.encode("utf-16-le") + line[end:]
        assert accepted.decode("utf-16-le") == "value = f('日本', 😀)"
        (request,) = generation_requests(hf_server)
        assert (
            "<fim_prefix># 日本語 😀 comment\r\nvalue = f(<fim_suffix>)\r\nprint"
            in request.json["inputs"]
        )


async def test_special_tokens_only_gives_nothing(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="<|endoftext|>")
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "x = 1\n")
        result = await s.inline(URI, 1, 0)
        assert result is not None and result.items == ()


async def test_burst_of_automatic_requests_makes_one_upstream_call(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="total = 0")
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def f():\n    \n")
        pending = []
        for index in range(8):
            s.insert(URI, index + 2, 1, 4 + index, "x")
            pending.append(asyncio.ensure_future(s.inline(URI, 1, 5 + index, invoked=False)))
            await asyncio.sleep(0.02)
        results = await asyncio.gather(*pending)
        assert all(r is not None and r.items == () for r in results[:-1])
        assert results[-1] is not None and len(results[-1].items) == 1
        assert len(generation_requests(hf_server)) == 1


async def test_cancel_aborts_the_upstream_call(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="slow", delay_s=5)
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def f():\n    \n")
        future = asyncio.ensure_future(s.inline(URI, 1, 4, msg_id="cancel-me"))
        await s.wait_for(lambda: len(generation_requests(hf_server)) == 1, 5, "upstream request")
        s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
        with pytest.raises((JsonRpcException, asyncio.CancelledError)):
            await asyncio.wait_for(future, 5)
        assert await hf_server.wait_for_disconnect(3.0)


async def test_typing_along_a_suggestion_needs_no_upstream_call(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="return a + b")
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def add(a, b):\n    \n")
        first = await s.inline(URI, 1, 4, invoked=False)
        assert first is not None and first.items[0].insert_text == "return a + b"
        for index, ch in enumerate("ret"):
            s.insert(URI, index + 2, 1, 4 + index, ch)
            result = await s.inline(URI, 1, 5 + index, invoked=False)
            assert result is not None and len(result.items) == 1
            assert result.items[0].insert_text == "return a + b"[index + 1 :]
            assert result.items[0].range is not None
            assert result.items[0].range.start == types.Position(1, 5 + index)
        assert len(generation_requests(hf_server)) == 1


async def test_same_state_after_typing_along_gets_the_same_answer_without_a_call(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    # VS Code asks again at once for the state it just showed; a second upstream call
    # could change the ghost text under the user's eyes.
    hf_server.script(reply="return a + b", times=1)
    hf_server.script(reply="turn a * b")
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def add(a, b):\n    \n")
        first = await s.inline(URI, 1, 4, invoked=False)
        assert first is not None and first.items[0].insert_text == "return a + b"
        s.insert(URI, 2, 1, 4, "re")
        for invoked in (False, True, True):
            result = await s.inline(URI, 1, 6, invoked=invoked)
            assert result is not None and [i.insert_text for i in result.items] == ["turn a + b"]
        assert len(generation_requests(hf_server)) == 1
        # Edited elsewhere: no longer the same state, so it is asked again.
        s.insert(URI, 3, 0, 0, "# sum\n")
        result = await s.inline(URI, 2, 6)
        assert result is not None and result.items[0].insert_text == "turn a * b"
        assert len(generation_requests(hf_server)) == 2


async def test_identical_requests_are_cached(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="pass")
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def f():\n    \n")
        for _ in range(3):
            result = await s.inline(URI, 1, 4)
            assert result is not None and result.items[0].insert_text == "pass"
        assert len(generation_requests(hf_server)) == 1


async def test_loading_model_answers_automatic_requests_at_once(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(
        status=503,
        body={"error": "Model bigcode/starcoder2-3b is currently loading", "estimated_time": 30.0},
    )
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def f():\n    \n")
        started = asyncio.get_running_loop().time()
        result = await s.inline(URI, 1, 4, invoked=False)
        assert result is not None and result.items == ()
        assert asyncio.get_running_loop().time() - started < 3
        status = await s.wait_for_status("loading")
        assert "loading" in status["message"].lower()
        await asyncio.sleep(0.3)
        assert s.statuses[-1]["state"] == "loading"  # still warming up, not an error
        # While it loads, automatic requests don't even reach upstream.
        before = len(generation_requests(hf_server))
        result = await s.inline(URI, 1, 4, invoked=False)
        assert result is not None and result.items == ()
        assert len(generation_requests(hf_server)) == before


async def test_accept_is_counted_per_model(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    hf_server.script(reply="pass")
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def f():\n    \n")
        result = await s.inline(URI, 1, 4)
        assert result is not None and result.items[0].command is not None
        command = result.items[0].command
        accepted = await s.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )
        assert accepted is True
        rows = await s.client.protocol.send_request_async("bytebuddy/models", {})
        assert rows[0]["stats"]["autocomplete"] == {"shown": 1, "accepted": 1}


async def test_toggle_disables_autocomplete(
    hf_server: HFTestServer, server_env: dict[str, Any]
) -> None:
    async with running_server(**server_env, init_options={"config": config_for(hf_server)}) as s:
        s.open(URI, "def f():\n    \n")
        toggled = await s.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="bytebuddy.toggleAutocomplete")
        )
        assert toggled == {"enabled": False}
        await s.wait_for_status("disabled")
        result = await s.inline(URI, 1, 4)
        assert result is not None and result.items == ()
        assert generation_requests(hf_server) == []


async def test_completion_fallback_for_clients_without_inline(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.script(reply="urn a + b")
    caps = client_capabilities("neovim")  # declares no inlineCompletion
    init = {"config": config_for(hf_server)}
    async with running_server(cwd=tmp_path, capabilities=caps, init_options=init) as s:
        s.open(URI, "def add(a, b):\n    ret\n")
        result = await s.client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=types.Position(1, 7),
                context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
            )
        )
        assert isinstance(result, types.CompletionList) and result.is_incomplete
        (item,) = result.items
        assert isinstance(item.text_edit, types.TextEdit)
        assert item.text_edit.new_text == "return a + b"
        assert item.text_edit.range == types.Range(types.Position(1, 4), types.Position(1, 7))
    async with running_server(
        cwd=tmp_path, capabilities=inline_capabilities(), init_options=init
    ) as s:
        s.open(URI, "def add(a, b):\n    ret\n")
        result = await s.client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=URI),
                position=types.Position(1, 7),
            )
        )
        assert isinstance(result, types.CompletionList) and result.items == ()
