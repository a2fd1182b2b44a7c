"""Protocol fuzzing at the byte level: malformed and out-of-order JSON-RPC messages.

Every request must get an answer (a result, or an error with a code the spec allows),
every bad notification a silent ignore, and the server must neither crash nor hang:
after each message a liveness request is answered, and at the end it shuts down and
exits cleanly.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from .hf_server import HFTestServer
from .lsp_harness import RawConnection, raw_server

ANSWER_TIMEOUT_S = 30.0  # generous: the suite may run on two busy cores
# Error codes a well-behaved server may answer a bad request with. InternalError
# (-32603) is not among them: it means an unhandled exception in a handler.
ALLOWED_ERRORS = {
    -32700,  # ParseError
    -32600,  # InvalidRequest
    -32601,  # MethodNotFound
    -32602,  # InvalidParams
    -32002,  # ServerNotInitialized
    -32800,  # RequestCancelled
    -32801,  # ContentModified
    -32803,  # RequestFailed
}
_ids = itertools.count(1000)


def config_text(url: str) -> str:
    return (
        "models:\n"
        "  - name: ac\n"
        "    provider: huggingface-tgi\n"
        "    model: bigcode/starcoder2-3b\n"
        f"    apiBase: {url}\n"
        "    apiKey: test-key\n"
        "    roles: [autocomplete]\n"
        "  - name: chat\n"
        "    provider: openai\n"
        "    model: test-chat\n"
        f"    apiBase: {url}/v1\n"
        "    apiKey: test-key\n"
        "    roles: [chat, edit, apply]\n"
    )


async def request(conn: RawConnection, method: str, params: Any = None) -> dict[str, Any]:
    msg_id = next(_ids)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    conn.send(message)
    return await asyncio.wait_for(_answer_to(conn, msg_id), ANSWER_TIMEOUT_S)


async def _answer_to(conn: RawConnection, msg_id: int) -> dict[str, Any]:
    """Read until the response to ``msg_id``, answering the server's own requests on the
    way like an editor would (it waits for them: applyEdit, progress/create...)."""
    for message in conn.received:
        if message.get("id") == msg_id and "method" not in message:
            return message
    while True:
        message = await conn._read_one()
        conn.received.append(message)
        if "method" in message and "id" in message:
            result: Any = None
            if message["method"] == "workspace/applyEdit":
                result = {"applied": False, "failureReason": "fuzz client declines"}
            elif message["method"] == "window/showDocument":
                result = {"success": False}
            conn.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
        elif message.get("id") == msg_id:
            return message


def notify(conn: RawConnection, method: str, params: Any = None) -> None:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    conn.send(message)


def assert_answered_well(answer: dict[str, Any], what: str) -> None:
    if "error" in answer:
        code = answer["error"].get("code")
        assert code in ALLOWED_ERRORS, f"{what}: error {code}: {answer['error'].get('message')}"
    else:
        assert "result" in answer, f"{what}: {answer}"


async def assert_alive(conn: RawConnection, after: str) -> None:
    answer = await request(conn, "bytebuddy/models", {})
    assert isinstance(answer.get("result"), list), f"not alive after {after}: {answer}"


async def initialize(conn: RawConnection, root: Path) -> None:
    answer = await request(
        conn,
        "initialize",
        {"processId": None, "rootUri": root.as_uri(), "capabilities": {}},
    )
    assert "capabilities" in answer["result"]
    notify(conn, "initialized", {})


async def shutdown_and_exit(conn: RawConnection) -> None:
    answer = await request(conn, "shutdown")
    assert answer.get("result") is None and "error" not in answer
    notify(conn, "exit")
    assert await asyncio.wait_for(conn.process.wait(), ANSWER_TIMEOUT_S) == 0


@asynccontextmanager
async def session(tmp_path: Path, hf: HFTestServer | None = None) -> AsyncIterator[RawConnection]:
    args: list[str] = []
    if hf is not None:
        config = tmp_path / "config.yaml"
        config.write_text(config_text(hf.url))
        args = ["--config", str(config)]
    args += ["--log-file", str(tmp_path / "server.log")]
    async with raw_server(cwd=tmp_path, args=args) as conn:
        yield conn


# ----- lifecycle ---------------------------------------------------------------------


async def test_lifecycle_out_of_order(tmp_path: Path) -> None:
    async with session(tmp_path) as conn:
        position = {"textDocument": {"uri": "file:///x.py"}, "position": ZERO}
        early = await request(conn, "textDocument/completion", position)
        assert early["error"]["code"] == -32002  # ServerNotInitialized
        # Notifications before initialize are dropped, not acted on.
        notify(
            conn,
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": "file:///x.py",
                    "languageId": "python",
                    "version": 1,
                    "text": "x = 1\n",
                }
            },
        )
        notify(conn, "$/cancelRequest", {"id": 424242})
        await initialize(conn, tmp_path)
        await assert_alive(conn, "initialize")
        # A second initialize is answered (not a hang), whatever its verdict.
        again = await request(conn, "initialize", {"processId": None, "capabilities": {}})
        assert_answered_well(again, "second initialize")
        await assert_alive(conn, "second initialize")
        answer = await request(conn, "shutdown")
        assert answer.get("result") is None and "error" not in answer
        late = await request(conn, "bytebuddy/models", {})
        assert late["error"]["code"] == -32600  # InvalidRequest after shutdown
        notify(conn, "textDocument/didClose", {"textDocument": {"uri": "file:///x.py"}})
        notify(conn, "exit")
        assert await asyncio.wait_for(conn.process.wait(), ANSWER_TIMEOUT_S) == 0


# ----- scripted bad messages -----------------------------------------------------------

ZERO = {"line": 0, "character": 0}
UNKNOWN = {"uri": "file:///nowhere/unknown.py"}


def _bad_requests(uri: str) -> list[tuple[str, Any, set[int] | None]]:
    """(method, params, expected error codes; None: a result is fine too)."""
    inline_ctx = {"triggerKind": 1}
    return [
        ("no/such/method", {}, {-32601}),
        (
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": uri}, "position": "abc", "context": inline_ctx},
            {-32602},
        ),
        (
            "textDocument/inlineCompletion",
            {"textDocument": UNKNOWN, "position": ZERO, "context": inline_ctx},
            None,
        ),
        (
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": {"line": 10**6, "character": 10**6},
                "context": inline_ctx,
            },
            None,
        ),
        (
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": {"line": -1, "character": -5},
                "context": inline_ctx,
            },
            None,
        ),
        ("textDocument/completion", {"textDocument": UNKNOWN, "position": ZERO}, None),
        ("textDocument/completion", [1, 2, 3], {-32602}),
        ("textDocument/completion", None, {-32602}),
        (
            "textDocument/codeAction",
            {
                "textDocument": UNKNOWN,
                "range": {"start": ZERO, "end": ZERO},
                "context": {"diagnostics": []},
            },
            None,
        ),
        (
            "textDocument/codeAction",
            {
                "textDocument": {"uri": uri},
                "range": {
                    "start": {"line": 50, "character": 0},
                    "end": {"line": 2, "character": 0},
                },
                "context": {"diagnostics": []},
            },
            None,
        ),
        ("codeAction/resolve", {"title": "not ours"}, None),
        ("codeAction/resolve", {"title": "x", "data": {"id": 7}}, None),
        ("codeAction/resolve", {"title": "x", "data": "garbage"}, None),
        ("workspace/executeCommand", {"command": "no.such.command"}, {-32602, -32601}),
        ("workspace/executeCommand", {"command": "bytebuddy.edit", "arguments": [1, 2]}, {-32602}),
        (
            "workspace/executeCommand",
            {
                "command": "bytebuddy.edit",
                "arguments": [
                    {
                        "uri": UNKNOWN["uri"],
                        "range": {"start": ZERO, "end": ZERO},
                        "instruction": "x",
                    }
                ],
            },
            {-32602, -32803},
        ),
        (
            "workspace/executeCommand",
            {
                "command": "bytebuddy.apply",
                "arguments": [{"uri": UNKNOWN["uri"], "code": "x = 1\n"}],
            },
            {-32602, -32803},
        ),
        (
            "workspace/executeCommand",
            {"command": "bytebuddy.apply", "arguments": [{"uri": 5}]},
            {-32602},
        ),
        (
            "workspace/executeCommand",
            {"command": "bytebuddy.acceptCompletion", "arguments": [{"id": "never-shown"}]},
            None,
        ),
        (
            "workspace/executeCommand",
            {"command": "bytebuddy.acceptCompletion", "arguments": [None]},
            None,
        ),
        (
            "workspace/executeCommand",
            {"command": "bytebuddy.selectModel", "arguments": [{"role": "nope", "name": "nobody"}]},
            None,
        ),
        ("bytebuddy/chat", [1, 2], {-32602}),
        ("bytebuddy/chat", {"messages": "hi"}, {-32602}),
        (
            "bytebuddy/chat",
            {"messages": [{"role": "user", "content": "hi"}], "textDocument": UNKNOWN},
            {-32602},
        ),
        (
            "bytebuddy/chat",
            {"messages": [{"role": "user", "content": "hi"}], "model": "no-such-model"},
            {-32602},
        ),
        ("bytebuddy/models", {"unexpected": True}, None),
    ]


def _bad_notifications(uri: str) -> list[tuple[str, Any]]:
    return [
        ("$/cancelRequest", {"id": 987654}),  # cancel for an unknown id
        ("$/cancelRequest", {"id": "no-such-request"}),
        ("$/cancelRequest", {}),
        ("no/such/notification", {"x": 1}),
        ("$/unknownProtocolThing", {}),
        # Duplicate didOpen: the second replaces the first.
        (
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": "dup = 1\n",
                }
            },
        ),
        ("textDocument/didOpen", {"textDocument": {"uri": uri}}),
        # didChange on a closed/unknown document.
        (
            "textDocument/didChange",
            {"textDocument": {**UNKNOWN, "version": 3}, "contentChanges": [{"text": "whole"}]},
        ),
        (
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 9},
                "contentChanges": [
                    {
                        "range": {
                            "start": {"line": 999, "character": 0},
                            "end": {"line": 0, "character": 0},
                        },
                        "text": "x",
                    }
                ],
            },
        ),
        ("textDocument/didChange", {"textDocument": {"uri": uri}, "contentChanges": "nope"}),
        ("textDocument/didClose", {"textDocument": UNKNOWN}),
        ("textDocument/didClose", {"textDocument": {"uri": uri}}),
        ("textDocument/didClose", {"textDocument": {"uri": uri}}),  # closed twice
        (
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 10},
                "contentChanges": [{"text": "after close"}],
            },
        ),
        ("workspace/didChangeConfiguration", {"settings": "not an object"}),
        ("workspace/didChangeConfiguration", {"settings": {"bytebuddy": {"autocomplete": 5}}}),
    ]


async def test_scripted_bad_messages(tmp_path: Path, hf_server: HFTestServer) -> None:
    uri = (tmp_path / "doc.py").as_uri()
    async with session(tmp_path, hf_server) as conn:
        await initialize(conn, tmp_path)
        notify(
            conn,
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": "def add(a, b):\n    \n\nprint(add(1, 2))\n",
                }
            },
        )
        for method, params, expected in _bad_requests(uri):
            answer = await request(conn, method, params)
            what = f"{method} {params!r}"
            assert_answered_well(answer, what)
            if expected is not None:
                assert "error" in answer and answer["error"]["code"] in expected, (what, answer)
            await assert_alive(conn, what)
        for method, params in _bad_notifications(uri):
            notify(conn, method, params)
            await assert_alive(conn, f"{method} {params!r}")
            # Notifications are never answered.
            assert not [m for m in conn.received if "id" not in m and "error" in m]
        # Bytes that are not JSON-RPC at all.
        for raw in (
            b"{not json",
            b"[]",
            b"42",
            b'{"jsonrpc": "1.0", "id": 1, "method": "x"}',
            b'{"jsonrpc": "2.0", "id": {"bad": "id"}, "method": "bytebuddy/models"}',
            '{"jsonrpc": "2.0", "method": "\u00e9\U0001f600"}'.encode(),
        ):
            conn.send(raw)
            await assert_alive(conn, repr(raw))
        await shutdown_and_exit(conn)


# ----- random params ---------------------------------------------------------------------


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choices = ["none", "bool", "int", "float", "str"]
    if depth < 3:
        choices += ["list", "dict"]
    kind = rng.choice(choices)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 1, 2**31, -(2**63), 10**30, rng.randint(-100, 100)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 3.0])
    if kind == "str":
        return rng.choice(["", "x", "😀" * 3, "\r\n", "file:///", "a" * 5000, "\u0000", "日本"])
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["uri", "line", "character", "text", "id", "range", "start", "end", "data", "x"]
    return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _mutate(value: Any, rng: random.Random) -> Any:
    """One random change somewhere inside a valid params object."""
    if not isinstance(value, dict | list) or not value or rng.random() < 0.25:
        return _random_value(rng)
    mutated = copy.copy(value)
    if isinstance(mutated, dict):
        key = rng.choice(list(mutated))
        roll = rng.random()
        if roll < 0.2:
            del mutated[key]
        elif roll < 0.3:
            mutated["unexpectedField"] = _random_value(rng)
        else:
            mutated[key] = _mutate(mutated[key], rng)
    else:
        index = rng.randrange(len(mutated))
        mutated[index] = _mutate(mutated[index], rng)
    return mutated


def _templates(uri: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(method, valid params, is_request)."""
    position = {"line": 1, "character": 4}
    return [
        (
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}},
            True,
        ),
        (
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}},
            True,
        ),
        (
            "textDocument/codeAction",
            {
                "textDocument": {"uri": uri},
                "range": {"start": ZERO, "end": position},
                "context": {"diagnostics": [], "triggerKind": 1},
            },
            True,
        ),
        (
            "codeAction/resolve",
            {
                "title": "t",
                "data": {
                    "id": "refactor",
                    "uri": uri,
                    "range": {"start": ZERO, "end": position},
                    "version": 1,
                },
            },
            True,
        ),
        (
            "workspace/executeCommand",
            {
                "command": "bytebuddy.edit",
                "arguments": [
                    {"uri": uri, "range": {"start": ZERO, "end": position}, "instruction": "x"}
                ],
            },
            True,
        ),
        (
            "workspace/executeCommand",
            {
                "command": "bytebuddy.apply",
                "arguments": [{"uri": uri, "code": "def add(a, b):\n    return a + b\n"}],
            },
            True,
        ),
        (
            "bytebuddy/chat",
            {
                "messages": [{"role": "user", "content": "hi"}],
                "textDocument": {"uri": uri},
                "range": {"start": ZERO, "end": position},
            },
            True,
        ),
        (
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [{"range": {"start": position, "end": position}, "text": "x"}],
            },
            False,
        ),
        (
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": "def add(a, b):\n    \n",
                }
            },
            False,
        ),
        ("$/cancelRequest", {"id": 5}, False),
        ("workspace/didChangeConfiguration", {"settings": {"bytebuddy": {}}}, False),
    ]


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_params_never_crash_or_hang(
    tmp_path: Path, hf_server: HFTestServer, seed: int
) -> None:
    rng = random.Random(seed)
    hf_server.script(reply="return a + b")
    uri = (tmp_path / "doc.py").as_uri()
    templates = _templates(uri)
    async with session(tmp_path, hf_server) as conn:
        await initialize(conn, tmp_path)
        notify(
            conn,
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": "def add(a, b):\n    \n",
                }
            },
        )
        for step in range(150):
            method, valid, is_request = rng.choice(templates)
            params = _mutate(valid, rng) if rng.random() < 0.85 else valid
            what = f"step {step}: {method} {str(params)[:300]}"
            if is_request:
                try:
                    answer = await request(conn, method, params)
                except TimeoutError:
                    raise AssertionError(f"no answer: {what}") from None
                assert_answered_well(answer, what)
            else:
                notify(conn, method, params)
            if step % 10 == 0:
                await assert_alive(conn, what)
        await assert_alive(conn, "the random messages")
        await shutdown_and_exit(conn)
