"""Trusting a workspace config: the prompt (``Trust`` / ``Not now``), ``bytebuddy-ls
trust``, and an edit making it untrusted again — with the real server and CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pygls.exceptions import JsonRpcException

from tests.hf_server import HFTestServer
from tests.lsp_harness import Session, _as_dict, running_server

from .conftest import HF_TOKEN

CHAT = {"messages": [{"role": "user", "content": "hello"}]}


def write_repo(root: Path, hf_server: HFTestServer, extra: str = "") -> Path:
    config = root / ".bytebuddy" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "models:\n  - name: chat\n    provider: openai\n    model: m\n"
        f"    apiBase: {hf_server.url}/v1\n    apiKey: ${{HF_TOKEN}}\n    roles: [chat]\n"
        + extra
    )
    return config


def trust_cli(path: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home)}
    env.pop("XDG_STATE_HOME", None)
    return subprocess.run(
        [sys.executable, "-m", "bytebuddy_ls", "trust", str(path)],
        env=env, cwd=home, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def chat(session: Session) -> str:
    try:
        result = await session.client.protocol.send_request_async("bytebuddy/chat", CHAT)
    except JsonRpcException as exc:
        return f"error: {exc}"
    return str(_as_dict(result)["content"])


@asynccontextmanager
async def asked_to_trust(
    home: Path, repo: Path, hf_server: HFTestServer, answer: str
) -> AsyncIterator[tuple[Session, Path]]:
    """The server started in ``home`` on ``repo``, whose own config it has just asked the
    user to trust (``answer``: the user's choice): the session and that config's path."""
    home.mkdir()
    config = write_repo(repo, hf_server)
    async with running_server(
        cwd=home, root=repo, env={"HF_TOKEN": HF_TOKEN}, message_answer=answer
    ) as session:
        await session.wait_for(lambda: bool(session.message_requests), what="the trust prompt")
        yield session, config


async def test_the_prompt_shows_what_the_config_reaches_and_trust_applies_it(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    async with asked_to_trust(home, repo, hf_server, "Trust") as (session, config):
        prompt = session.message_requests[0]
        assert [a.title for a in prompt.actions or []] == ["Trust", "Not now"]
        assert str(config) in prompt.message and "$HF_TOKEN" in prompt.message
        assert "127.0.0.1" in prompt.message and HF_TOKEN not in prompt.message
        await session.wait_for(
            lambda: any("not trusted" not in s.get("message", "") and s["state"] == "ready"
                        for s in session.statuses[-1:]),
            what="a trusted, ready config",
        )
        answer = await chat(session)
        assert not answer.startswith("error"), answer
    assert hf_server.requests[-1].authorization == f"Bearer {HF_TOKEN}"
    store = home / ".local" / "state" / "bytebuddy-ls" / "trusted-configs.json"
    assert store.is_file() and (store.stat().st_mode & 0o777) == 0o600


async def test_not_now_then_the_cli_trusts_then_an_edit_untrusts(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    home, repo = tmp_path / "home", tmp_path / "repo"
    async with asked_to_trust(home, repo, hf_server, "Not now") as (session, config):
        untrusted = await chat(session)
        assert "not trusted" in untrusted and "bytebuddy-ls trust" in untrusted
        assert hf_server.requests == []
        # The user trusts it from a terminal: the running server picks it up.
        done = await asyncio.to_thread(trust_cli, config, home)
        assert done.returncode == 0, done.stderr
        assert "$HF_TOKEN" in done.stdout and "127.0.0.1" in done.stdout
        await session.wait_for(
            lambda: "not trusted" not in session.statuses[-1].get("message", ""),
            what="the server to see the trust",
        )
        assert not (await chat(session)).startswith("error")
        assert hf_server.requests[-1].authorization == f"Bearer {HF_TOKEN}"
        # Any edit is a new content: untrusted again, asked again.
        write_repo(repo, hf_server, extra="# edited\n")
        await session.wait_for(lambda: len(session.message_requests) == 2, what="a new prompt")
        assert "not trusted" in await chat(session)
