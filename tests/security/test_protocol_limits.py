"""Malformed and oversized JSON-RPC messages against the real server on stdio: each is
answered (or skipped) and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bytebuddy_ls.transport import MAX_MESSAGE_BYTES
from tests.lsp_harness import RawConnection, raw_server

PARSE_ERROR = -32700


def initialize(msg_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": msg_id,
        "method": "initialize",
        "params": {"processId": None, "rootUri": None, "capabilities": {}},
    }


def frame(body: bytes, length: int | None = None) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length) + body


def write(connection: RawConnection, data: bytes) -> None:
    assert connection.process.stdin is not None
    connection.process.stdin.write(data)


async def test_a_huge_content_length_is_answered_not_allocated(tmp_path: Path) -> None:
    async with raw_server(cwd=tmp_path) as connection:
        write(connection, frame(b"{}", length=999_999_999_999))
        answer = await connection.response(None)
        assert answer["error"]["code"] != 0 and "limit" in answer["error"]["message"]
        await asyncio.sleep(0.5)
        assert connection.process.returncode is None, "the server died"


async def test_an_oversized_message_is_skipped_and_the_next_one_served(tmp_path: Path) -> None:
    async with raw_server(cwd=tmp_path) as connection:
        filler = b'{"jsonrpc": "2.0", "method": "x", "params": "' + b"a" * MAX_MESSAGE_BYTES
        write(connection, frame(filler + b'"}'))
        connection.send(initialize(1))
        assert "limit" in (await connection.response(None, timeout=30))["error"]["message"]
        assert "capabilities" in (await connection.response(1, timeout=30))["result"]


async def test_invalid_utf8_gets_a_parse_error_with_its_id(tmp_path: Path) -> None:
    async with raw_server(cwd=tmp_path) as connection:
        body = json.dumps(initialize(7)).encode().replace(b'"rootUri"', b'"root\xff\xfeUri"')
        write(connection, frame(body))
        answer = await connection.response(7)
        assert answer["error"]["code"] == PARSE_ERROR and "UTF-8" in answer["error"]["message"]
        connection.send(initialize(8))
        assert "result" in await connection.response(8)


async def test_too_deep_and_not_json_get_parse_errors(tmp_path: Path) -> None:
    async with raw_server(cwd=tmp_path) as connection:
        deep = b'{"jsonrpc":"2.0","id":3,"method":"initialize","params":' + b"[" * 100_000
        write(connection, frame(deep + b"]" * 100_000 + b"}"))
        first = await connection.response(None)
        assert first["error"]["code"] == PARSE_ERROR and "deep" in first["error"]["message"]
        connection.received.clear()
        write(connection, frame(b'{"jsonrpc": "2.0", "id": 4, '))
        second = await connection.response(None)
        assert second["error"]["code"] == PARSE_ERROR
        connection.send(initialize(5))
        assert "result" in await connection.response(5)


def test_stdin_that_is_a_regular_file_is_read_too(tmp_path: Path) -> None:
    """A pipe is read by the event loop; a file (``bytebuddy-ls < session``) cannot be, and
    goes through the worker-thread reader with the same framing rules."""
    session = tmp_path / "session.jsonrpc"
    session.write_bytes(
        frame(json.dumps(initialize(1)).encode())
        + b"X-Padding: "
        + b"p" * 10_000
        + b"\r\n\r\n"  # over-long header line: closes
        + frame(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}).encode())
    )
    env = {**os.environ, "HOME": str(tmp_path)}
    env.pop("BYTEBUDDY_CONFIG", None)
    with session.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "bytebuddy_ls"],
            stdin=stdin,
            capture_output=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
    answers = []
    rest = done.stdout
    while match := re.match(rb"Content-Length: (\d+)\r\n(?:[^\r\n]*\r\n)*?\r\n", rest):
        end = match.end() + int(match.group(1))
        answers.append(json.loads(rest[match.end() : end]))
        rest = rest[end:]
    assert "capabilities" in next(a for a in answers if a.get("id") == 1)["result"]
    assert any("too long" in a.get("error", {}).get("message", "") for a in answers)
    assert not any(a.get("id") == 2 for a in answers), "read past a broken header"
