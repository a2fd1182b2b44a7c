"""Requests that name a file the editor has not opened: only regular files inside a
workspace folder, at most 4 MB, read off the event loop; everything else is a clear error
and nothing of it reaches the model."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.hf_server import HFTestServer
from tests.lsp_harness import Session, running_server

SECRET_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- not-a-real-key-4f1d2c"
CHAT = {"messages": [{"role": "user", "content": "what does this do?"}]}


def config(path: Path, hf_server: HFTestServer) -> Path:
    path.write_text(
        "models:\n  - name: m\n    provider: openai\n    model: m\n"
        f"    apiBase: {hf_server.url}/v1\n    apiKey: k-123456\n    roles: [chat, edit]\n"
    )
    return path


async def ask(session: Session, method: str, params: Any) -> tuple[Any, str | None]:
    try:
        return await session.client.protocol.send_request_async(method, params), None
    except JsonRpcException as exc:
        return None, str(exc)


def chat_about(uri: str) -> dict[str, Any]:
    return {**CHAT, "textDocument": {"uri": uri}}


def run_action(uri: str, action: str = "explain") -> types.ExecuteCommandParams:
    area = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
    return types.ExecuteCommandParams("bytebuddy.runAction", [{"id": action, "uri": uri,
                                                               "range": area}])


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    home, repo = tmp_path / "home", tmp_path / "repo"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text(SECRET_KEY + "\n")
    repo.mkdir()
    (repo / "main.py").write_text("def main():\n    return 42\n")
    return home, repo


async def test_files_outside_the_workspace_are_not_read(
    layout: tuple[Path, Path], hf_server: HFTestServer
) -> None:
    home, repo = layout
    (repo / "link.py").symlink_to(home / ".ssh" / "id_rsa")  # inside by name only
    cfg = config(home / "cfg.yaml", hf_server)
    async with running_server(cwd=home, root=repo, args=["--config", str(cfg)]) as session:
        for uri in ((home / ".ssh" / "id_rsa").as_uri(), (repo / "link.py").as_uri()):
            _result, error = await ask(session, "bytebuddy/chat", chat_about(uri))
            assert error is not None and "outside the workspace" in error, error
            _result, error = await ask(
                session, types.WORKSPACE_EXECUTE_COMMAND, run_action(uri)
            )
            assert error is not None and "outside the workspace" in error, error
        # A regular file inside the workspace is fine, open or not.
        inside = chat_about((repo / "main.py").as_uri())
        result, error = await ask(session, "bytebuddy/chat", inside)
        assert error is None and result is not None
    sent = "\n".join(r.text for r in hf_server.requests)
    assert "return 42" in sent and "OPENSSH" not in sent and "not-a-real-key" not in sent


async def test_fifo_dev_zero_and_huge_files_are_refused_without_blocking(
    layout: tuple[Path, Path], hf_server: HFTestServer
) -> None:
    home, repo = layout
    os.mkfifo(repo / "pipe.py")
    (repo / "zero.py").symlink_to("/dev/zero")
    with (repo / "huge.py").open("wb") as handle:
        handle.truncate(6 * 1024 * 1024)
    cfg = config(home / "cfg.yaml", hf_server)
    async with running_server(cwd=home, root=repo, args=["--config", str(cfg)]) as session:
        started = time.monotonic()
        for name, why in (("pipe.py", "not a regular file"), ("zero.py", "outside the workspace"),
                          ("huge.py", "MB")):
            _result, error = await asyncio.wait_for(
                ask(session, "bytebuddy/chat", chat_about((repo / name).as_uri())), 10
            )
            assert error is not None and why in error, (name, error)
        assert time.monotonic() - started < 10
        models = await session.client.protocol.send_request_async("bytebuddy/models", {})
        assert models, "the server still answers"
    assert stat.S_ISFIFO((repo / "pipe.py").stat().st_mode)
    assert hf_server.requests == []
