"""The loopback HF server itself: fidelity against huggingface_hub's own client (used only
as an oracle), the HTTP control API, and the standalone process other test suites use."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import AsyncInferenceClient
from huggingface_hub.errors import (
    GenerationError,
    HfHubHTTPError,
    OverloadedError,
    ValidationError,
)

from tests.hf_server import DEFAULT_REPLY, HFTestServer

SERVER_SCRIPT = Path(__file__).with_name("hf_server.py")
MESSAGES = [{"role": "user", "content": "write add"}]


def oracle(server: HFTestServer) -> AsyncInferenceClient:
    return AsyncInferenceClient(model=server.url, token="hf_oracletoken1234567890")


# ----- fidelity: the official client parses what the server sends --------------------


async def test_oracle_text_generation(hf_server: HFTestServer) -> None:
    hf_server.script("def add(a, b):\n    return a + b")
    client = oracle(hf_server)
    assert await client.text_generation("x", max_new_tokens=8) == "def add(a, b):\n    return a + b"
    detailed = await client.text_generation("x", max_new_tokens=7, details=True)  # 7 tokens
    assert detailed.generated_text == "def add(a, b):\n    return a + b"
    assert detailed.details is not None and detailed.details.finish_reason == "length"
    ended = await client.text_generation("x", max_new_tokens=64, details=True)
    assert ended.details is not None and ended.details.finish_reason == "eos_token"
    assert hf_server.requests[0].authorization == "Bearer hf_oracletoken1234567890"


async def test_oracle_text_generation_stream(hf_server: HFTestServer) -> None:
    hf_server.script("return a + b")
    client = oracle(hf_server)
    tokens = [t async for t in await client.text_generation("x", max_new_tokens=8, stream=True)]
    assert len(tokens) > 2
    assert "".join(tokens[:-1]) == "return a + b" and tokens[-1] == "</s>"  # last is special
    outputs = [o async for o in await client.text_generation("x", stream=True, details=True)]
    assert outputs[-1].generated_text == "return a + b" and outputs[-1].token.special


async def test_oracle_chat_completion(hf_server: HFTestServer) -> None:
    hf_server.script("Use `a + b`.")
    client = oracle(hf_server)
    output = await client.chat_completion(MESSAGES, max_tokens=10)
    assert output.choices[0].message.content == "Use `a + b`."
    assert output.choices[0].finish_reason == "stop"
    assert output.usage.total_tokens > 0


async def test_oracle_chat_completion_stream(hf_server: HFTestServer) -> None:
    hf_server.script("Use `a + b`.")
    client = oracle(hf_server)
    chunks = [c async for c in await client.chat_completion(MESSAGES, max_tokens=10, stream=True)]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Use `a + b`."
    assert len(chunks) > 3 and chunks[-1].choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [("validation", ValidationError), ("overloaded", OverloadedError),
     ("generation", GenerationError)],
)
async def test_oracle_reads_tgi_error_bodies_and_stream_errors(
    hf_server: HFTestServer, error_type: str, expected: type[Exception]
) -> None:
    status = {"validation": 422, "overloaded": 429, "generation": 424}[error_type]
    hf_server.script(status=status, times=1,
                     body={"error": f"{error_type} problem", "error_type": error_type})
    client = oracle(hf_server)
    with pytest.raises(expected):
        await client.text_generation("x")
    hf_server.script(error_event=f"{error_type} problem", error_type=error_type, times=1)
    with pytest.raises(expected):
        async for _ in await client.text_generation("x", stream=True):
            pass


async def test_oracle_sees_loading_503_as_http_error(hf_server: HFTestServer) -> None:
    hf_server.script(status=503, times=1)
    with pytest.raises(HfHubHTTPError) as info:
        await oracle(hf_server).text_generation("x")
    assert info.value.response is not None and info.value.response.status_code == 503
    assert "loading" in info.value.response.json()["error"]


# ----- the test server's own behaviour -------------------------------------------------------


async def test_validation_rejects_what_tgi_rejects(hf_server: HFTestServer) -> None:
    async with httpx.AsyncClient(base_url=hf_server.url) as http:
        for parameters in ({"temperature": 0}, {"top_p": 1.0}, {"max_new_tokens": 0},
                           {"stop": ["a", "b", "c", "d", "e"]}, {"top_k": 0}):
            answer = await http.post("/generate", json={"inputs": "x", "parameters": parameters})
            assert answer.status_code == 422, parameters
            assert answer.json()["error"].startswith("Input validation error: ")
        answer = await http.post("/v1/completions", json={"model": "tgi", "prompt": "x",
                                                          "suffix": "y"})
        assert answer.status_code == 422 and "Suffix" in answer.json()["error"]


async def test_hf_inference_route_echoes_prompt_unless_told_not_to(
    hf_server: HFTestServer,
) -> None:
    async with httpx.AsyncClient(base_url=hf_server.url) as http:
        echoed = await http.post("/hf-inference/models/org/m", json={"inputs": "P:"})
        assert echoed.json() == [{"generated_text": "P:" + DEFAULT_REPLY}]
        plain = await http.post("/hf-inference/models/org/m",
                                json={"inputs": "P:", "parameters": {"return_full_text": False}})
        assert plain.json() == [{"generated_text": DEFAULT_REPLY}]


async def test_http_control_api(hf_server: HFTestServer) -> None:
    async with httpx.AsyncClient(base_url=hf_server.url) as http:
        ok = await http.post("/_test/script", json={"reply": "scripted", "times": 1,
                                                    "match_path": "/generate"})
        assert ok.json() == {"ok": True}
        await http.post("/_test/script", json={"reply": "new default"})
        first = await http.post("/generate", json={"inputs": "x"},
                                headers={"Authorization": "Bearer hf_secretsecret"})
        second = await http.post("/generate", json={"inputs": "x"})
        assert first.json()["generated_text"] == "scripted"
        assert second.json()["generated_text"] == "new default"
        recorded = (await http.get("/_test/requests")).json()
        assert [r["path"] for r in recorded] == ["/generate", "/generate"]
        assert recorded[0]["headers"]["Authorization"] == "[REDACTED]"
        assert "hf_secretsecret" not in json.dumps(recorded)
        bad = await http.post("/_test/script", json={"reply": "x", "bogus": 1})
        assert bad.status_code == 400
        await http.post("/_test/config", json={"engine": "openai"})
        assert (await http.get("/info")).status_code == 404
        await http.post("/_test/reset")
        assert (await http.get("/_test/requests")).json() == []
        assert (await http.post("/generate", json={"inputs": "x"})).json() == {
            "generated_text": DEFAULT_REPLY
        }


# ----- standalone process ----------------------------------------------------------------


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[str]:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port", "0", "--port-file", str(port_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    try:
        deadline = time.monotonic() + 15
        while not port_file.exists():
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the server did not write its port file"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{int(port_file.read_text())}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
        assert code == 0


def test_standalone_server_is_scriptable_over_http(standalone: str) -> None:
    with httpx.Client(base_url=standalone, timeout=5) as http:
        http.post("/_test/script", json={"reply": "from another process"})
        with http.stream("POST", "/v1/chat/completions",
                         json={"model": "tgi", "messages": MESSAGES, "stream": True}) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            events = [line for line in answer.iter_lines() if line.startswith("data:")]
        assert events[-1] == "data: [DONE]"
        deltas = [json.loads(e[5:])["choices"][0]["delta"].get("content") or ""
                  for e in events[:-1]]
        assert "".join(deltas) == "from another process"
        recorded = http.get("/_test/requests").json()
        assert recorded[-1]["json"]["model"] == "tgi"


async def test_oracle_against_standalone_server(standalone: str) -> None:
    client = AsyncInferenceClient(model=standalone)
    assert await client.text_generation("x") == DEFAULT_REPLY
    await asyncio.sleep(0)


async def test_reply_stops_at_end_of_sequence_like_a_model(hf_server: HFTestServer) -> None:
    hf_server.script("return a<|endoftext|>junk after the end")
    client = oracle(hf_server)
    outputs = [o async for o in await client.text_generation("x", stream=True, details=True)]
    assert outputs[-1].token.text == "<|endoftext|>" and outputs[-1].token.special
    assert outputs[-1].generated_text == "return a"
    assert await client.text_generation("x") == "return a"
    chat = await client.chat_completion(MESSAGES)
    assert chat.choices[0].message.content == "return a"
