"""Secrets and trust, end to end with the real server and CLI.

- At debug log level, with tokens set (one from ``HF_TOKEN``, one interpolated from
  another variable into ``apiKey``), scenarios across every feature — successes and
  failures whose upstream error bodies and headers echo the tokens back — leave the
  tokens in no log line, message, status, error or result.
- (A repository's own config, untrusted until the user trusts it: tests/security.)
- TLS verification is on by default (a self-signed server is refused) and off only
  when ``verifySsl: false`` says so.
- ``doctor`` and ``check-config`` never print a secret, even for invalid configs.
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .ai_support import fix_code_action_results, record_partial_results, vscode_capabilities
from .hf_server import HFTestServer
from .lsp_harness import Session, _as_dict, inline_params, running_server

HF_SHAPED = "hf_" + random_secrets.token_hex(17)
# Not token-shaped: only the server's registry of known secrets can catch this one.
PLAIN = "plain-" + random_secrets.token_hex(12)
TOKENS = (HF_SHAPED, PLAIN)
CHAT_ARGS = {"messages": [{"role": "user", "content": "hello"}]}


def _leaks(text: str) -> list[str]:
    return [t for t in TOKENS if t in text]


class Seen:
    """Everything the client got from the server, as text."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.results: list[str] = []
        self.errors: list[str] = []

    async def call(self, method: str, params: Any) -> Any:
        try:
            result = await self.session.client.protocol.send_request_async(method, params)
        except JsonRpcException as exc:
            self.errors.append(f"{exc.code} {exc}")
            return None
        self.results.append(repr(result))
        return result

    def everything(self) -> str:
        client = self.session.client
        parts = [
            *self.results,
            *self.errors,
            *(m.message for m in client.messages),
            *(m.message for m in client.log_messages),
            *(json.dumps(s) for s in self.session.statuses),
        ]
        return "\n".join(parts)


async def _scenarios(seen: Seen, hf: HFTestServer, root: Path, round_: int) -> None:
    session = seen.session
    path = root / f"calc_{round_}.py"
    text = f"def add_{round_}(a, b):\n    \n\n\ndef area(r):\n    return 3 * r * r\n"
    path.write_text(text)
    uri = path.as_uri()
    session.open(uri, text)
    await seen.call(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, 1, 4))
    await seen.call("bytebuddy/chat", {**CHAT_ARGS, "partialResultToken": f"t{round_}"})
    await seen.call("bytebuddy/chat", {**CHAT_ARGS, "textDocument": {"uri": uri}})
    area = types.Range(types.Position(4, 0), types.Position(6, 0))
    actions = await seen.call(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=area,
            context=types.CodeActionContext(diagnostics=[]),
        ),
    )
    for action in actions or []:
        if "Refactor" in getattr(action, "title", ""):
            resolved = await seen.call(types.CODE_ACTION_RESOLVE, action)
            assert resolved is not None or seen.errors
    block = "def area(r):\n    # ... existing code ...\n"
    await seen.call(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams("bytebuddy.apply", [{"uri": uri, "code": block}]),
    )
    area_json = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}
    await seen.call(
        types.WORKSPACE_EXECUTE_COMMAND,
        types.ExecuteCommandParams(
            "bytebuddy.edit", [{"uri": uri, "range": area_json, "instruction": "use math.pi"}]
        ),
    )
    await seen.call("bytebuddy/models", {})


async def test_no_token_in_any_log_line_message_status_or_error(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    log = tmp_path / "server.log"
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n"
        "  - name: ac\n"
        "    provider: huggingface-tgi\n"
        "    model: bigcode/starcoder2-3b\n"
        f"    apiBase: {hf_server.url}\n"
        "    apiKey: ${HF_TOKEN}\n"
        "    roles: [autocomplete]\n"
        "  - name: chat\n"
        "    provider: openai\n"
        "    model: test-chat\n"
        f"    apiBase: {hf_server.url}/v1\n"
        "    apiKey: ${{ secrets.CHAT_KEY }}\n"
        "    roles: [chat, edit, apply]\n"
        "    requestOptions: {headers: {X-Extra-Key: \"${CHAT_KEY}\"}}\n"
    )
    env = {"HF_TOKEN": HF_SHAPED, "CHAT_KEY": PLAIN, "BYTEBUDDY_RETRY_SCALE": "0.01"}
    async with running_server(
        cwd=tmp_path,
        args=["--config", str(config), "--log-file", str(log), "--log-level", "debug"],
        env=env,
        capabilities=vscode_capabilities(),
    ) as session:
        fix_code_action_results(session)
        record_partial_results(session)
        seen = Seen(session)
        hf_server.script(reply="```python\ndef area(r):\n    return 1\n```")
        await _scenarios(seen, hf_server, tmp_path, 0)
        # The tokens did go where they belong: to the model's own server.
        sent = {r.authorization for r in hf_server.requests} | {
            r.headers.get("X-Extra-Key") for r in hf_server.requests
        }
        assert {f"Bearer {HF_SHAPED}", f"Bearer {PLAIN}", PLAIN} <= sent, sent
        # Upstream errors that echo the credentials back, in the body and in headers.
        echo = f"Invalid credentials: Bearer {HF_SHAPED} / {PLAIN}"
        for rule in (
            {"status": 401, "body": {"error": echo}},
            {"status": 403, "body": None, "headers": {"X-Error-Message": echo}},
            {"status": 500, "body": echo},
            {"status": 422, "body": {"error": {"message": echo}}},
            {"reply": "a b c", "error_event": echo, "error_type": "generation"},
        ):
            hf_server.reset()
            hf_server.script(**rule)
            await _scenarios(seen, hf_server, tmp_path, len(seen.results) + len(seen.errors))
        # A config reload with an invalid value that is a secret.
        config.write_text(config.read_text() + f"  - name: bad\n    apiKey: [{PLAIN}]\n")
        await seen.call(
            types.WORKSPACE_EXECUTE_COMMAND, types.ExecuteCommandParams("bytebuddy.reloadConfig")
        )
        assert seen.errors, "the failing scenarios produced no error at all"
        everything = seen.everything()
    assert not _leaks(everything), "a token reached the client"
    # The echoed tokens did reach the server and were redacted on the way out.
    assert "[REDACTED]" in everything
    lines = log.read_text(encoding="utf-8")
    assert len(lines.splitlines()) > 50, "debug logging did not happen"
    assert not _leaks(lines), [line for line in lines.splitlines() if _leaks(line)][:3]


# ----- TLS verification -----------------------------------------------------------------------


@pytest.fixture
def self_signed() -> ssl.SSLContext:
    """A server certificate from a throwaway CA that nothing trusts."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_tls_verification_is_on_by_default(
    tmp_path: Path, self_signed: ssl.SSLContext
) -> None:
    tls = HFTestServer(ssl_context=self_signed)
    await tls.start()
    try:
        config = tmp_path / "config.yaml"
        config.write_text(
            "models:\n"
            "  - name: default\n    provider: openai\n    model: m\n"
            f"    apiBase: {tls.url}/v1\n    apiKey: {PLAIN}\n    roles: [chat]\n"
            "  - name: unverified\n    provider: openai\n    model: m\n"
            f"    apiBase: {tls.url}/v1\n    apiKey: {PLAIN}\n    roles: [chat]\n"
            "    requestOptions: {verifySsl: false}\n"
        )
        async with running_server(cwd=tmp_path, args=["--config", str(config)]) as session:
            seen = Seen(session)
            assert await seen.call("bytebuddy/chat", {**CHAT_ARGS, "model": "default"}) is None
            assert "certificate" in seen.errors[-1].lower() or "ssl" in seen.errors[-1].lower()
            # Refused during the handshake: the token was never sent.
            assert [r for r in tls.requests if r.authorization] == []
            answer = await seen.call("bytebuddy/chat", {**CHAT_ARGS, "model": "unverified"})
            assert answer is not None and _as_dict(answer)["content"]
            assert not _leaks(seen.everything())
    finally:
        await tls.stop()


# ----- doctor and check-config -------------------------------------------------------------------


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> str:
    full_env = {**os.environ, "HOME": str(cwd), "HF_HOME": str(cwd / "hf"), **env}
    full_env.pop("BYTEBUDDY_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "bytebuddy_ls", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    "body",
    [
        "    apiKey: {plain}\n",
        "    apiKey: ${{CHAT_KEY}}\n",
        "    apiKey: [{plain}]\n",  # invalid type: the error must not quote the value
        "    apiKey: {plain}\n    requestOptions: {{timeout: {plain}}}\n",
        "    apiKey: {plain}\n    requestOptions: {{headers: {{X-Key: {plain}}}}}\n"
        "    temperature: {plain}\n",
        '    apiKey: "{plain}\n',  # YAML syntax error on the secret's line
    ],
)
async def test_doctor_and_check_config_never_print_a_secret(
    tmp_path: Path, hf_server: HFTestServer, body: str
) -> None:
    hf_server.script(status=401, body={"error": f"bad token {PLAIN} {HF_SHAPED}"})
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n  - name: m\n    provider: openai\n    model: test-chat\n"
        f"    apiBase: {hf_server.url}/v1\n    roles: [chat]\n" + body.format(plain=PLAIN)
    )
    # The token file written by `huggingface-cli login` is a secret too.
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "token").write_text(HF_SHAPED)
    env = {"CHAT_KEY": PLAIN}
    import asyncio

    check = await asyncio.to_thread(_cli, "check-config", str(config), cwd=tmp_path, env=env)
    doctor = await asyncio.to_thread(
        _cli, "doctor", "--config", str(config), "--timeout", "3", cwd=tmp_path, env=env
    )
    assert check.strip() and doctor.strip()
    assert not _leaks(check), check
    assert not _leaks(doctor), doctor
