"""Secrets in URLs, in InitializeParams and across a truncation never reach a log line,
a message or ``doctor``'s output (real server at debug level, real CLI)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets as random_secrets
import subprocess
import sys
from pathlib import Path

from pygls.exceptions import JsonRpcException

from tests.hf_server import HFTestServer
from tests.lsp_harness import running_server

USER = "user-" + random_secrets.token_hex(8)
PASSWORD = "pass-" + random_secrets.token_hex(10)
QUERY_KEY = "qkey-" + random_secrets.token_hex(10)
INLINE_KEY = "inline-" + random_secrets.token_hex(10)
LONG_KEY = "long-" + random_secrets.token_hex(20)
ALL = (PASSWORD, QUERY_KEY, INLINE_KEY, LONG_KEY)
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def _leaks(text: str) -> list[str]:
    # Any 12-character piece of a secret counts: a truncated secret is still a leak.
    return [s for s in ALL if any(s[i : i + 12] in text for i in range(len(s) - 11))]


def url_config(tmp_path: Path, hf_server: HFTestServer) -> Path:
    host = hf_server.url.removeprefix("http://")
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n"
        "  - name: url\n    provider: openai\n    model: m\n    roles: [chat]\n"
        f'    apiBase: "http://{USER}:${{PASSWORD}}@{host}/v1?api_key=${{QUERY_KEY}}"\n'
        "  - name: long\n    provider: openai\n    model: m\n    roles: [edit]\n"
        f"    apiBase: {hf_server.url}/v1\n    apiKey: {LONG_KEY}\n"
    )
    return config


async def test_url_userinfo_query_inline_keys_and_cut_errors_stay_out_of_logs(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    log = tmp_path / "server.log"
    config = url_config(tmp_path, hf_server)
    inline = {"models": [{"name": "x", "provider": "openai", "model": "m", "apiKey": INLINE_KEY}]}
    seen: list[str] = []
    async with running_server(
        cwd=tmp_path,
        args=["--config", str(config), "--log-file", str(log), "--log-level", "debug"],
        env={"PASSWORD": PASSWORD, "QUERY_KEY": QUERY_KEY},
        # Ignored (--config wins) but still in InitializeParams, which pygls would log.
        init_options={"config": inline},
    ) as session:
        protocol = session.client.protocol
        try:
            seen.append(json.dumps(await protocol.send_request_async("bytebuddy/chat", CHAT)))
        except JsonRpcException as exc:  # the query lands before the path: fine here
            seen.append(str(exc))
        # An error body where the key sits across the 300-character cut.
        hf_server.script(status=400, body={"error": "x" * 280 + LONG_KEY})
        try:
            await protocol.send_request_async("bytebuddy/chat", {**CHAT, "model": "long"})
        except JsonRpcException as exc:
            seen.append(str(exc))
        seen += [m.message for m in session.client.messages]
        seen += [json.dumps(s) for s in session.statuses]
    first = hf_server.requests[0]
    assert QUERY_KEY in first.query + first.path, "the secret did reach its own server"
    text = log.read_text(encoding="utf-8")
    assert "InitializeParams" in text and "/v1" in text, "debug logging did not happen"
    assert not _leaks(text), [line for line in text.splitlines() if _leaks(line)][:3]
    assert len(seen) > 2 and not _leaks("\n".join(seen)), seen


async def test_doctor_never_shows_url_secrets(tmp_path: Path, hf_server: HFTestServer) -> None:
    config = url_config(tmp_path, hf_server)
    env = {**os.environ, "HOME": str(tmp_path), "PASSWORD": PASSWORD, "QUERY_KEY": QUERY_KEY}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bytebuddy_ls", "doctor", "--config", str(config)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert "url" in output and "/v1" in output, output
    assert not _leaks(output), output
