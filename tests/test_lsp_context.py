"""Workspace context end to end: the real server, a workspace on disk, the loopback HF
server recording what is sent."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from .hf_server import HFTestServer
from .lsp_harness import Session, _as_dict, inline_capabilities, running_server
from .test_lsp_inline_completion import generation_requests

GEOMETRY = '''"""Geometry helpers."""
import math


def distance(a: "Point", b: "Point", *, squared: bool = False) -> float:
    """Euclidean distance between two points."""
    dx = a.x - b.x
    return math.hypot(dx, a.y - b.y)


class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y
'''
MAIN = "from geometry import distance, Point\n\n\ndef far(p, q):\n    return distance("
CHARTS = "def render_histogram(values, bins):\n    counts = bucket(values, bins)\n"


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "geometry.py").write_text(GEOMETRY, encoding="utf-8")
    (root / "main.py").write_text(MAIN, encoding="utf-8")
    (root / "charts.py").write_text(CHARTS, encoding="utf-8")
    (root / ".gitignore").write_text("secret/\n", encoding="utf-8")
    (root / "secret").mkdir()
    (root / "secret" / "keys.py").write_text("def distance_key():\n    pass\n", encoding="utf-8")
    return root


def config(hf: HFTestServer, model: str = "bigcode/starcoder2-3b", **extra: Any) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": "fim",
                "provider": "huggingface-tgi",
                "model": model,
                "apiBase": hf.url,
                "roles": ["autocomplete"],
            }
        ],
        **extra,
    }


@asynccontextmanager
async def workspace_session(
    tmp_path: Path,
    config_data: dict[str, Any],
    *,
    file: str = "main.py",
    text: str = MAIN,
    **init_options: Any,
) -> AsyncIterator[tuple[Session, Path, str]]:
    """The language server on the sample workspace with ``config_data`` (more
    ``initializationOptions`` as keywords), ``file`` open with ``text``: the session, the
    workspace's root and the file's URI."""
    root = workspace(tmp_path)
    uri = (root / file).as_uri()
    async with running_server(
        cwd=tmp_path,
        root=root,
        capabilities=inline_capabilities(),
        init_options={"config": config_data, **init_options},
    ) as session:
        session.open(uri, text)
        yield session, root, uri


async def inspect(session: Session, uri: str, line: int, character: int, **extra: Any) -> Any:
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        **extra,
    }
    result = await session.client.protocol.send_request_async("bytebuddy/context", params)
    return _as_dict(result)


@pytest.mark.parametrize(
    ("model", "expected_head"),
    [
        ("Qwen/Qwen2.5-Coder-7B", "<|repo_name|>ws\n<|file_sep|>geometry.py\ndef distance("),
        ("bigcode/starcoder2-3b", "<repo_name>ws<file_sep>geometry.py\ndef distance("),
        ("google/codegemma-2b", "<|file_separator|>geometry.py\ndef distance("),
        ("codellama/CodeLlama-7b-hf", "<PRE> # Path: geometry.py\n# def distance("),
    ],
)
async def test_imported_definition_reaches_the_fim_prompt_and_the_inspector_agrees(
    hf_server: HFTestServer, tmp_path: Path, model: str, expected_head: str
) -> None:
    hf_server.script(reply="p, q)")
    async with workspace_session(tmp_path, config(hf_server, model)) as (session, _, uri):
        answer = await inspect(session, uri, 4, 20)
        result = await session.inline(uri, 4, 20)
        assert result is not None and result.items[0].insert_text == "p, q)"
        (request,) = generation_requests(hf_server)
        sent = request.json["inputs"]
        assert sent.startswith(expected_head)
        assert "Euclidean distance between two points" in sent  # the docstring came along
        assert "math.hypot" not in sent  # the body did not
        # The inspector showed exactly the prompt that was then sent.
        assert answer["prompt"] == sent
        symbols = [s.get("symbol") for s in answer["snippets"]]
        assert "distance" in symbols and answer["snippets"][0]["path"] == "geometry.py"
        assert answer["reason"] is None and answer["tokens"]["context"] > 0
        assert (
            answer["format"]
            == {
                "Qwen/Qwen2.5-Coder-7B": "qwen",
                "bigcode/starcoder2-3b": "starcoder2",
                "google/codegemma-2b": "codegemma",
                "codellama/CodeLlama-7b-hf": "comments",
            }[model]
        )


async def test_inspector_says_why_nothing_was_found(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    async with workspace_session(
        tmp_path, config(hf_server), file="lonely.py", text="value = 1\nresult = value + "
    ) as (session, _, uri):
        answer = await inspect(session, uri, 1, 17)
        assert answer["snippets"] == []
        assert answer["reason"].startswith("nothing relevant")


async def test_context_off_in_settings_sends_the_plain_prompt(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    async with workspace_session(
        tmp_path, config(hf_server), context={"enabled": False}
    ) as (session, _, uri):
        answer = await inspect(session, uri, 4, 20)
        assert answer["snippets"] == [] and "off" in answer["reason"]
        await session.inline(uri, 4, 20)
        (request,) = generation_requests(hf_server)
        assert request.json["inputs"].startswith("<fim_prefix>from geometry import")
        assert answer["prompt"] == request.json["inputs"]


async def wait_for_index(session: Session, uri: str) -> dict[str, Any]:
    answer: dict[str, Any] = {}

    async def ready() -> bool:
        nonlocal answer
        answer = await inspect(session, uri, 0, 0, role="chat", query="x")
        return bool(answer["index"]["state"] == "ready")

    for _ in range(200):
        if await ready():
            return answer
        await session.wait_for(lambda: True, 0.05)
        import asyncio

        await asyncio.sleep(0.05)
    raise AssertionError(f"index never ready: {answer}")


async def test_workspace_retrieval_follows_files_and_honours_gitignore(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    async with workspace_session(tmp_path, config(hf_server)) as (session, root, uri):
        status = await wait_for_index(session, uri)
        assert status["index"]["files"] == 4  # .gitignore, charts, geometry, main
        assert status["index"]["skipped"]["ignored"] >= 1  # secret/
        answer = await inspect(session, uri, 0, 0, role="chat", query="euclidean distance")
        paths = [s["path"] for s in answer["snippets"]]
        assert paths[0] == "geometry.py" and "secret/keys.py" not in paths
        # The server asked the editor to watch the workspace's files.
        (watch,) = session.registrations
        assert watch.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES

        # A new file on disk, announced by the client's file watcher, is found...
        (root / "stats.py").write_text("def median_of_values(values):\n    pass\n")
        session.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[
                    types.FileEvent(
                        uri=(root / "stats.py").as_uri(), type=types.FileChangeType.Created
                    )
                ]
            )
        )

        async def found(query: str, path: str) -> bool:
            answer = await inspect(session, uri, 0, 0, role="chat", query=query)
            return path in [s["path"] for s in answer["snippets"]]

        for _ in range(100):
            if await found("median", "stats.py"):
                break
            import asyncio

            await asyncio.sleep(0.05)
        assert await found("median", "stats.py")

        # ...and a deleted one is gone.
        (root / "stats.py").unlink()
        session.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[
                    types.FileEvent(
                        uri=(root / "stats.py").as_uri(), type=types.FileChangeType.Deleted
                    )
                ]
            )
        )
        answer = await inspect(session, uri, 0, 0, role="chat", query="median")
        assert answer["snippets"] == [] and answer["reason"].startswith("nothing relevant")


def test_cli_context_prints_the_snippets(hf_server: HFTestServer, tmp_path: Path) -> None:
    root = workspace(tmp_path)
    (root / ".git").mkdir()
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(config(hf_server, "Qwen/Qwen2.5-Coder-7B")))

    def context_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bytebuddy_ls", "context", f"{root / 'main.py'}:5:21",
             "--config", str(cfg), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip

    run = context_cli("--json")
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["snippets"][0]["path"] == "geometry.py"
    assert answer["prompt"].startswith("<|repo_name|>ws\n<|file_sep|>geometry.py\n")
    text = context_cli("--role", "chat", "--query", "euclidean distance")
    assert text.returncode == 0, text.stderr
    assert "--- geometry.py:" in text.stdout and "retrieved" in text.stdout


def chat_config(hf: HFTestServer) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": "chatty",
                "provider": "openai",
                "model": "some-chat-model",
                "apiBase": hf.url,
                "roles": ["chat"],
            }
        ],
        "context": {"embeddings": "off"},
    }


def chat_request(hf: HFTestServer) -> Any:
    """The one chat request the model received."""
    (request,) = [r for r in hf.requests if r.path == "/v1/chat/completions"]
    return request


async def test_chat_workspace_and_file_mentions_put_code_in_the_prompt(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.script(reply="It uses math.hypot.")
    async with workspace_session(tmp_path, chat_config(hf_server)) as (session, _, uri):
        await wait_for_index(session, uri)
        question = "@workspace how is the euclidean distance computed? see @file:charts.py"
        result = _as_dict(
            await session.client.protocol.send_request_async(
                "bytebuddy/chat", {"messages": [{"role": "user", "content": question}]}
            )
        )
        assert result["content"] == "It uses math.hypot."
        sent = chat_request(hf_server).json["messages"][-1]["content"]
        assert "@workspace" not in sent and "@file" not in sent
        assert sent.endswith("how is the euclidean distance computed? see")
        assert "geometry.py (lines" in sent and "math.hypot(dx, a.y - b.y)" in sent
        assert "charts.py\n```\ndef render_histogram" in sent
        cited = [s["path"] for s in result["context"]["snippets"]]
        assert cited[0] == "charts.py" and "geometry.py" in cited
        assert all("text" not in s for s in result["context"]["snippets"])

        # A file that is not in the workspace is said, not silently dropped.
        hf_server.requests.clear()
        result = _as_dict(
            await session.client.protocol.send_request_async(
                "bytebuddy/chat",
                {"messages": [{"role": "user", "content": "explain @file:../outside.py"}]},
            )
        )
        assert "not found in the workspace: ../outside.py" in result["context"]["reason"]


async def test_edit_instruction_mentions_bring_workspace_code(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.script(reply="```python\n    return distance(p, q, squared=True)\n```")
    text = MAIN + "p, q)\n"
    async with workspace_session(tmp_path, chat_config(hf_server), text=text) as (session, _, uri):
        result = _as_dict(
            await session.client.workspace_execute_command_async(
                types.ExecuteCommandParams(
                    command="bytebuddy.edit",
                    arguments=[
                        {
                            "uri": uri,
                            "range": {
                                "start": {"line": 4, "character": 0},
                                "end": {"line": 4, "character": 25},
                            },
                            "instruction": "use the squared form from @file:geometry.py",
                        }
                    ],
                )
            )
        )
        sent = json.dumps(chat_request(hf_server).json["messages"])
        assert "@file" not in sent and "use the squared form from" in sent
        assert "Euclidean distance between two points" in sent  # geometry.py came along
        assert [s["path"] for s in result["context"]["snippets"]] == ["geometry.py"]
        assert result["applied"] is True
