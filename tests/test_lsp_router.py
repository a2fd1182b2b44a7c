"""The router as the official clients use it, end to end through the real server:
ghost text from the provider the Hub's mapping names, a model without a raw-prompt
route explained once, ``autocomplete: {via: chat}`` as the explicit opt-in, and chat
answers that say when they were cut short or came back empty."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pygls.exceptions import JsonRpcException

from .hf_server import HFTestServer
from .lsp_harness import inline_capabilities, running_server

URI = "file:///work/demo.py"
TEXT = "def add(a, b):\n    \n\nprint(add(1, 2))\n"


def router_env(hf: HFTestServer) -> dict[str, str]:
    return {"BYTEBUDDY_ROUTER_URL": hf.url, "HF_ENDPOINT": hf.url,
            "HF_TOKEN": "hf_routertest0123456789"}


def router_config(model_id: str, **extra: Any) -> dict[str, Any]:
    model = {"name": "coder", "provider": "huggingfaceinferenceapi", "model": model_id,
             "roles": ["autocomplete", "chat"], **extra}
    return {"models": [model]}


async def test_ghost_text_goes_to_the_provider_serving_text_generation(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.configure(mappings={"bigcode/starcoder2-15b": {
        "nebius": {"status": "live", "providerId": "x/sc2", "task": "conversational"},
        "featherless-ai": {"status": "live", "providerId": "bigcode/starcoder2-15b",
                           "task": "text-generation"},
    }})
    hf_server.script(reply="return a + b")
    async with running_server(
        cwd=tmp_path, env=router_env(hf_server), capabilities=inline_capabilities(),
        init_options={"config": router_config("bigcode/starcoder2-15b")},
    ) as session:
        session.open(URI, TEXT)
        result = await session.inline(URI, 1, 4)
        assert result is not None and [i.insert_text for i in result.items] == ["return a + b"]
        await session.inline(URI, 1, 4, invoked=True)  # cached: no new request
        posts = [r for r in hf_server.requests if r.method == "POST"]
        assert [r.path for r in posts] == ["/featherless-ai/v1/completions"]
        assert posts[0].json["prompt"].startswith("<fim_prefix>def add(a, b):")
        assert hf_server.hub_lookups() == ["bigcode/starcoder2-15b"]


async def test_no_raw_prompt_route_is_told_once_and_never_becomes_chat(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.configure(mappings={"Qwen/Qwen3-Coder-480B-A35B-Instruct": {
        "together": {"status": "live", "providerId": "q/480b", "task": "conversational"},
        "novita": {"status": "live", "providerId": "q/480b", "task": "conversational"},
    }})
    async with running_server(
        cwd=tmp_path, env=router_env(hf_server), capabilities=inline_capabilities(),
        init_options={"config": router_config("Qwen/Qwen3-Coder-480B-A35B-Instruct")},
    ) as session:
        session.open(URI, TEXT)
        for _ in range(3):
            result = await session.inline(URI, 1, 4)
            assert result is None or not result.items
        await session.wait_for(lambda: bool(session.client.messages), 5, "a message")
        said = [m.message for m in session.client.messages]
        assert len(said) == 1 and "together, novita" in said[0] and "via: chat" in said[0]
        assert [r for r in hf_server.requests if r.method == "POST"] == []  # no chat fallback


async def test_autocomplete_via_chat_is_the_explicit_opt_in(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.configure(mappings={"Qwen/Qwen3-Coder-480B-A35B-Instruct": {
        "together": {"status": "live", "providerId": "q/480b", "task": "conversational"},
    }})
    hf_server.script(reply="```python\nreturn a + b\n```")
    config = router_config("Qwen/Qwen3-Coder-480B-A35B-Instruct", autocomplete={"via": "chat"})
    async with running_server(
        cwd=tmp_path, env=router_env(hf_server), capabilities=inline_capabilities(),
        init_options={"config": config},
    ) as session:
        session.open(URI, TEXT)
        result = await session.inline(URI, 1, 4)
        assert result is not None and [i.insert_text for i in result.items] == ["return a + b"]
        [post] = [r for r in hf_server.requests if r.method == "POST"]
        assert post.path == "/v1/chat/completions"
        assert post.json["model"] == "Qwen/Qwen3-Coder-480B-A35B-Instruct"


async def chat(session: Any, question: str = "What does add do?") -> Any:
    return await session.client.protocol.send_request_async(
        "bytebuddy/chat", {"messages": [{"role": "user", "content": question}]}
    )


async def test_chat_result_says_when_the_answer_was_cut_short(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    config = router_config("org/chat", defaultCompletionOptions={"maxTokens": 3})
    async with running_server(
        cwd=tmp_path, env=router_env(hf_server), init_options={"config": config}
    ) as session:
        hf_server.script(reply="It adds two numbers")  # 4 tokens ≥ maxTokens: "length"
        result = await chat(session)
        assert result.content == "It adds two numbers" and result.truncated is True
        hf_server.script(reply="Adds")
        result = await chat(session)
        assert not hasattr(result, "truncated")


async def test_an_empty_chat_answer_is_an_error_not_a_success(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.script(reply="<|im_end|>")  # the model stops at once
    async with running_server(
        cwd=tmp_path, env=router_env(hf_server),
        init_options={"config": router_config("org/chat")},
    ) as session:
        with pytest.raises(JsonRpcException, match="answered nothing"):
            await chat(session)


async def test_ghost_text_from_a_waking_endpoint_answers_at_once_and_says_waking(
    hf_server: HFTestServer, forward_proxy: Any, tmp_path: Path
) -> None:
    endpoint = "http://my-coder.us-east-1.aws.endpoints.huggingface.cloud"
    config = {"models": [{"name": "ep", "provider": "huggingface-inference-endpoints",
                          "model": "bigcode/starcoder2-7b", "apiBase": endpoint,
                          "roles": ["autocomplete"]}]}
    env = {"HTTP_PROXY": forward_proxy.url, "HF_TOKEN": "hf_endpointtest0123456789"}
    async with running_server(
        cwd=tmp_path, env=env, capabilities=inline_capabilities(), init_options={"config": config},
    ) as session:
        session.open(URI, TEXT)
        assert await session.inline(URI, 1, 4)  # warm: detected as TGI through the proxy
        hf_server.script(status=503, body="")  # scaled to zero: its proxy answers 503
        other = "file:///work/other.py"
        session.open(other, "def sub(a, b):\n    \n")  # not an answer the cache holds
        started = asyncio.get_running_loop().time()
        result = await session.inline(other, 1, 4, invoked=False)
        assert result is None or not result.items
        assert asyncio.get_running_loop().time() - started < 5  # not the 120 s wake-up
        await session.wait_for(
            lambda: any("waking" in (s.get("message") or "") for s in session.statuses),
            5, "a waking status",
        )
        generations = [r for r in hf_server.requests if r.path == "/generate"]
        assert "X-Scale-Up-Timeout" not in generations[-1].headers
        assert set(forward_proxy.hosts) == {"my-coder.us-east-1.aws.endpoints.huggingface.cloud"}
