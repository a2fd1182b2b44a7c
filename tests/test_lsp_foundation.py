"""End to end through LSP: the real server in a subprocess."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .lsp_harness import RawConnection, raw_server, running_server

CONFIG = """models:
  - name: fim
    provider: huggingface-tgi
    model: bigcode/starcoder2-3b
    apiBase: http://127.0.0.1:9
    roles: [autocomplete]
  - name: chatty
    provider: openai
    model: test-chat
    apiBase: http://127.0.0.1:9/v1
    roles: [chat, edit, apply]
"""


async def test_initialize_advertises_what_exists(tmp_path: Path) -> None:
    async with running_server(cwd=tmp_path) as session:
        result = session.initialize_result
        assert result is not None and result.server_info is not None
        assert result.server_info.name == "bytebuddy-ls"
        caps = result.capabilities
        assert caps.text_document_sync is not None
        sync = caps.text_document_sync
        assert isinstance(sync, types.TextDocumentSyncOptions)
        assert sync.change == types.TextDocumentSyncKind.Incremental
        assert caps.execute_command_provider is not None
        commands = set(caps.execute_command_provider.commands)
        assert {"bytebuddy.reloadConfig", "bytebuddy.selectModel"} <= commands


async def test_no_config_reports_unconfigured_and_keeps_running(tmp_path: Path) -> None:
    # Without this, the bundled local model (extra `local`) would serve as the default.
    async with running_server(cwd=tmp_path, env={"BYTEBUDDY_EMBEDDED_MODEL": "off"}) as session:
        status = await session.wait_for_status("unconfigured")
        assert "~/.bytebuddy/config.yaml" in status["message"]
        models = await session.client.protocol.send_request_async("bytebuddy/models", {})
        assert models == []
        await session.wait_for(lambda: len(session.client.messages) >= 1, what="a message")
        assert len(session.client.messages) == 1


async def test_models_table_and_select(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    async with running_server(cwd=tmp_path, args=["--config", str(path)]) as session:
        status = await session.wait_for_status("ready")
        assert "autocomplete → fim" in status["message"]
        rows = await session.client.protocol.send_request_async("bytebuddy/models", {})
        by_name = {r["name"]: r for r in rows}
        assert by_name["fim"]["roles"] == ["autocomplete"]
        assert by_name["fim"]["active"] is True
        assert by_name["chatty"]["activeRoles"] == ["chat", "edit", "apply"]
        assert by_name["fim"]["provider"] == "huggingface-tgi"

        result = await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="bytebuddy.selectModel", arguments=[{"role": "chat", "name": "fim"}]
            )
        )
        assert result == {"role": "chat", "name": "fim"}
        rows = await session.client.protocol.send_request_async("bytebuddy/models", {})
        assert {r["name"]: r for r in rows}["fim"]["activeRoles"] == ["chat", "autocomplete"]

        with pytest.raises(JsonRpcException, match="no model named 'nope'"):
            await session.client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="bytebuddy.selectModel", arguments=[{"role": "chat", "name": "nope"}]
                )
            )


async def test_inline_config_from_initialization_options(tmp_path: Path) -> None:
    inline = {"models": [{"name": "x", "provider": "openai", "model": "m", "roles": ["chat"]}]}
    async with running_server(cwd=tmp_path, init_options={"config": inline}) as session:
        await session.wait_for_status("ready")
        rows = await session.client.protocol.send_request_async("bytebuddy/models", {})
        assert [r["name"] for r in rows] == ["x"]


async def test_broken_edit_keeps_last_good_config_and_reports_once(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    init = {"configPath": str(path)}
    async with running_server(cwd=tmp_path, init_options=init) as session:
        await session.wait_for_status("ready")
        path.write_text(CONFIG.replace("provider: openai", "provider: opnai"))
        await session.wait_for(
            lambda: any("config error" in m.message for m in session.client.messages),
            what="config error message",
        )
        message = next(m for m in session.client.messages if "config error" in m.message)
        assert f"{path}:8:15:" in message.message and "did you mean 'openai'" in message.message
        # Still serving the last good config.
        rows = await session.client.protocol.send_request_async("bytebuddy/models", {})
        assert {r["name"] for r in rows} == {"fim", "chatty"}
        # The watcher keeps polling; the same error is not shown again.
        await asyncio.sleep(1.5)
        assert sum("config error" in m.message for m in session.client.messages) == 1

        # A good edit takes effect within about a second.
        path.write_text(CONFIG.replace("name: chatty", "name: talker"))
        await session.wait_for(lambda: session.statuses[-1].get("state") == "ready", 5)

        async def names() -> set[str]:
            rows = await session.client.protocol.send_request_async("bytebuddy/models", {})
            return {r["name"] for r in rows}

        for _ in range(50):
            if await names() == {"fim", "talker"}:
                break
            await asyncio.sleep(0.1)
        assert await names() == {"fim", "talker"}


async def test_reload_command_reports_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    async with running_server(cwd=tmp_path, args=["--config", str(path)]) as session:
        await session.wait_for_status("ready")
        path.write_text("models: [\n")
        result = await session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="bytebuddy.reloadConfig")
        )
        assert result["ok"] is False
        assert result["errors"] and "YAML syntax error" in result["errors"][0]


async def test_malformed_requests_get_an_error_answer(tmp_path: Path) -> None:
    async with raw_server(cwd=tmp_path) as conn:
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"processId": None, "rootUri": None, "capabilities": {}},
            }
        )
        assert "result" in await conn.response(1)
        conn.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        # Unknown method: MethodNotFound.
        conn.send({"jsonrpc": "2.0", "id": 2, "method": "bytebuddy/nonexistent", "params": {}})
        assert (await conn.response(2))["error"]["code"] == -32601
        # Wrong param types for a standard method: InvalidParams, not silence.
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "textDocument/hover",
                "params": {"textDocument": 5, "position": "x"},
            }
        )
        error = (await conn.response(3))["error"]
        assert error["code"] == -32602 and "textDocument/hover" in error["message"]
        # A command with the wrong arguments.
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": 4,
                "method": "workspace/executeCommand",
                "params": {"command": "bytebuddy.selectModel", "arguments": [1, 2]},
            }
        )
        assert "error" in await conn.response(4)
        # Garbage body and a notification with bad params are ignored; still alive.
        conn.send(b"{not json")
        conn.send({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {"x": 1}})
        conn.send({"jsonrpc": "2.0", "id": 5, "method": "bytebuddy/models", "params": {}})
        assert isinstance((await conn.response(5))["result"], list)


async def _initialize(conn: RawConnection) -> None:
    conn.send(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"processId": None, "rootUri": None, "capabilities": {}},
        }
    )
    assert "result" in await conn.response(1)
    conn.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})


async def test_bare_command_line_takes_serve_options(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.yaml"
    config.write_text(
        "models:\n  - {name: only-here, provider: openai, model: m,"
        " apiBase: 'http://127.0.0.1:9', roles: [chat]}\n"
    )
    async with raw_server(cwd=tmp_path, command=(), args=["--config", str(config)]) as conn:
        await _initialize(conn)
        conn.send({"jsonrpc": "2.0", "id": 2, "method": "bytebuddy/models", "params": {}})
        rows = (await conn.response(2))["result"]
        assert [row["name"] for row in rows] == ["only-here"]


async def test_bad_command_arguments_name_the_field(tmp_path: Path) -> None:
    async with raw_server(cwd=tmp_path) as conn:
        await _initialize(conn)
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "workspace/executeCommand",
                "params": {
                    "command": "bytebuddy.edit",
                    "arguments": [{"uri": "file:///x.py", "range": {"start": {"line": 0}}}],
                },
            }
        )
        error = (await conn.response(2))["error"]
        assert error["code"] == -32602
        assert "bytebuddy.edit" in error["message"] and "range.start.character" in error["message"]
        conn.send(
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "bytebuddy/chat",
                "params": {"messages": [{"role": "user"}]},
            }
        )
        error = (await conn.response(3))["error"]
        assert error["code"] == -32602 and "messages[0].content" in error["message"]


async def test_tcp_mode_listens_on_loopback(tmp_path: Path) -> None:
    import socket
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bytebuddy_ls",
        "serve",
        "--tcp",
        "--port",
        str(port),
        cwd=tmp_path,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("server did not listen")
        body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
        writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
        reply = await reader.readexactly(length)
        assert b'"bytebuddy-ls"' in reply
        writer.close()
    finally:
        process.kill()
        await process.wait()


async def test_exits_promptly_when_the_client_vanishes(tmp_path: Path) -> None:
    """An editor that quits after `shutdown` without waiting closes both pipes."""
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bytebuddy_ls",
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    for body in (
        b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}',
        b'{"jsonrpc":"2.0","method":"initialized","params":{}}',
    ):
        process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await process.stdout.readuntil(b"\r\n\r\n")
    body = b'{"jsonrpc":"2.0","id":2,"method":"shutdown"}'
    process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    process.stdout._transport.close()  # type: ignore[attr-defined]
    process.stdin.close()
    assert await asyncio.wait_for(process.wait(), 5) == 0
    assert process.stderr is not None
    stderr = (await process.stderr.read()).decode()
    assert "Traceback" not in stderr
