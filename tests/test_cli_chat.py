"""``bytebuddy-ls chat``: the real command in a subprocess, against the loopback HF server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bytebuddy_ls.cli import main
from bytebuddy_ls.cli.chat import parse_file_spec

from .ai_support import chat_requests, config_text, user_text
from .hf_server import HFTestServer


async def run_cli(*args: str, cwd: Path) -> asyncio.subprocess.Process:
    env = {**os.environ, "HOME": str(cwd), "HF_HOME": str(cwd / "hf")}
    for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG"):
        env.pop(name, None)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bytebuddy_ls",
        "chat",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(cwd),
        env=env,
    )


async def test_cli_chat_streams_the_answer_with_file_lines(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(config_text(hf_server.url))
    source = tmp_path / "mod.py"
    source.write_text("a = 1\nb = 2\n\n\ndef secret():\n    return 'xyzzy'\n")
    reply = "It returns a secret word, which is xyzzy, and nothing else at all."
    hf_server.script(reply, token_delay_s=0.15)
    process = await run_cli(
        "What does secret do?", "--file", f"{source}:5-6", "--config", str(config), cwd=tmp_path
    )
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.read(8), 20)
        # Streaming: text is on stdout while the model is still answering.
        assert first and process.returncode is None
        rest = await asyncio.wait_for(process.stdout.read(), 20)
        assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert (first + rest).decode() == reply + "\n"
    [request] = chat_requests(hf_server)
    question = user_text(request)
    assert "Selected lines 5-6" in question and "return 'xyzzy'" in question
    assert question.endswith("What does secret do?") and request["stream"] is True


async def test_cli_chat_reports_failures_on_stderr(tmp_path: Path, hf_server: HFTestServer) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(config_text(hf_server.url))
    hf_server.script(status=401)
    process = await run_cli("hi", "--config", str(config), cwd=tmp_path)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1 and out.strip() == b""
    assert b"token" in err and b"test-key" not in err


def test_cli_chat_input_problems_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(config_text("http://127.0.0.1:9"))
    assert main(["chat", "hi", "--file", str(tmp_path / "nope.py"), "--config", str(config)]) == 1
    assert "cannot read --file" in capsys.readouterr().err

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BYTEBUDDY_CONFIG", raising=False)
    monkeypatch.setenv("BYTEBUDDY_EMBEDDED_MODEL", "off")  # no bundled-model default
    assert main(["chat", "hi"]) == 1
    assert "no config found" in capsys.readouterr().err


def test_file_spec_parsing(tmp_path: Path) -> None:
    assert parse_file_spec("src/a.py") == ("src/a.py", None)
    assert parse_file_spec("src/a.py:3-5") == ("src/a.py", (2, 5))
    assert parse_file_spec("src/a.py:7") == ("src/a.py", (6, 7))
    odd = tmp_path / "name:12"
    odd.write_text("x")
    assert parse_file_spec(str(odd)) == (str(odd), None)
    with pytest.raises(ValueError):
        parse_file_spec("a.py:5-3")


async def test_cli_chat_notes_an_answer_cut_at_the_token_limit(
    tmp_path: Path, hf_server: HFTestServer
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(config_text(hf_server.url))
    hf_server.script("It adds two numbers", finish_reason="length")
    process = await run_cli("What does add do?", "--config", str(config), cwd=tmp_path)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert out.decode() == "It adds two numbers\n"
    assert "cut at the model's token limit" in err.decode()
