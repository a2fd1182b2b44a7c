"""Oracle tests: for each provider of the router table (and hf-inference),
huggingface_hub's own ``InferenceClient(provider=…)`` and ByteBuddy LS send the same
model and options to the loopback router; both must reach the same path with the same
body fields. huggingface_hub runs in a thread: its client is synchronous and the
loopback server shares this event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from huggingface_hub import InferenceClient as HubClient
from huggingface_hub import constants
from huggingface_hub.inference._providers import PROVIDERS as HUB_HELPERS
from huggingface_hub.inference._providers import _common as hub_providers

from bytebuddy_ls.inference import ChatMessage, GenerationParams, InferenceClient
from bytebuddy_ls.inference.providers import PROVIDERS
from tests.hf_server import HFTestServer
from tests.inference_support import make_model

HUB_ID = "org/coder-7b"
PROVIDER_ID = "vendor/coder-7b-fast"
TOKEN = "hf_oracle0123456789abcdefghij"
PROMPT = "<fim_prefix>def add(a, b):\n    <fim_suffix>\n<fim_middle>"
OPTIONS = {"maxTokens": 24, "temperature": 0.3, "topP": 0.9, "stop": ["\n\n"]}
RAW_PROMPT_PROVIDERS = sorted(p.name for p in PROVIDERS.values() if p.completions)


@pytest.fixture
def oracle_router(
    hf_server: HFTestServer, isolated_hf_env: None, monkeypatch: pytest.MonkeyPatch
) -> HFTestServer:
    """Both clients' router and Hub API are the loopback server."""
    monkeypatch.setenv("HF_ENDPOINT", hf_server.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr(constants, "ENDPOINT", hf_server.url)
    monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", hf_server.url + "/{provider}")
    # hf-inference's helpers read the router's address once, at import.
    for helper in HUB_HELPERS["hf-inference"].values():
        monkeypatch.setattr(helper, "base_url", f"{hf_server.url}/hf-inference")
    monkeypatch.setattr(
        hub_providers.AutoRouterConversationalTask,
        "_prepare_base_url",
        lambda _self, _api_key: hf_server.url,
    )
    hub_providers._fetch_inference_provider_mapping.cache_clear()
    return hf_server


def serve_as(server: HFTestServer, provider: str, task: str) -> str:
    """Map the model to ``provider``; returns the provider's id for it."""
    provider_id = HUB_ID if provider == "hf-inference" else PROVIDER_ID
    server.mappings[HUB_ID] = {
        provider: {"status": "live", "providerId": provider_id, "task": task},
    }
    return provider_id


async def oracle_post(server: HFTestServer, call: Any) -> Any:
    """What huggingface_hub sent for ``call`` (its inference POST), then a clean slate."""
    server.requests.clear()
    await asyncio.to_thread(call)
    [post] = [r for r in server.requests if r.method == "POST"]
    server.requests.clear()
    return post


def ours(server: HFTestServer) -> Any:
    [post] = [r for r in server.requests if r.method == "POST"]
    return post


@pytest.mark.parametrize("provider", RAW_PROMPT_PROVIDERS)
async def test_text_generation_matches_huggingface_hub(
    oracle_router: HFTestServer, hf_router_client: InferenceClient, provider: str
) -> None:
    server = oracle_router
    provider_id = serve_as(server, provider, "text-generation")
    server.script("    return a + b")
    if provider == "hf-inference":
        # huggingface_hub still uses the task route; ByteBuddy LS tries the OpenAI route
        # first, so make this model one that only has the task route.
        server.script(status=404, match_path=f"/hf-inference/models/{HUB_ID}/v1/completions")
    hub = HubClient(provider=provider, token=TOKEN)  # type: ignore[arg-type]
    theirs = await oracle_post(server, lambda: hub.text_generation(
        PROMPT, model=HUB_ID, max_new_tokens=24, temperature=0.3, top_p=0.9, stop=["\n\n"],
    ))

    for model_id in (f"{HUB_ID}:{provider}", HUB_ID):  # pinned, and the mapping's first
        model = make_model(None, provider="huggingfaceinferenceapi", model=model_id,
                           defaultCompletionOptions=OPTIONS)
        answer = await hf_router_client.generate(model, PROMPT, GenerationParams.for_model(model))
        assert answer == "    return a + b"
        mine = [r for r in server.requests if r.method == "POST"][-1]
        assert mine.path == theirs.path
        assert mine.headers["Authorization"] == "[REDACTED]"
        if provider == "hf-inference":
            assert mine.json["inputs"] == theirs.json["inputs"] == PROMPT
            for name in ("max_new_tokens", "temperature", "top_p", "stop"):
                assert mine.json["parameters"][name] == theirs.json["parameters"][name], name
        else:
            for name in ("model", "prompt", "temperature", "top_p", "stop"):
                assert mine.json[name] == theirs.json[name], name
            assert mine.json["stream"] is theirs.json.get("stream", False) is False
            assert mine.json["model"] == provider_id
            # huggingface_hub renames max_new_tokens for some providers only.
            assert mine.json["max_tokens"] == theirs.json.get(
                "max_tokens", theirs.json.get("max_new_tokens")
            )
        server.requests.clear()


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
async def test_chat_completion_matches_huggingface_hub(
    oracle_router: HFTestServer, hf_router_client: InferenceClient, provider: str
) -> None:
    server = oracle_router
    serve_as(server, provider, "conversational")
    server.script("Use `a + b`.")
    hub = HubClient(provider=provider, token=TOKEN)  # type: ignore[arg-type]
    messages = [{"role": "user", "content": "add a and b"}]
    theirs = await oracle_post(server, lambda: hub.chat_completion(
        messages, model=HUB_ID, max_tokens=24, temperature=0.3, top_p=0.9,
    ))

    model = make_model(None, provider="huggingfaceinferenceapi", model=f"{HUB_ID}:{provider}",
                       defaultCompletionOptions={"maxTokens": 24, "temperature": 0.3,
                                                 "topP": 0.9})
    answer = await hf_router_client.chat(
        model, [ChatMessage("user", "add a and b")], GenerationParams.for_model(model)
    )
    assert answer == "Use `a + b`."
    mine = ours(server)
    assert mine.path == theirs.path
    for name in ("model", "messages", "max_tokens", "temperature", "top_p", "stream"):
        assert mine.json[name] == theirs.json.get(name, False if name == "stream" else None), name


async def test_routed_chat_without_a_provider_matches_huggingface_hub_auto(
    oracle_router: HFTestServer, hf_router_client: InferenceClient
) -> None:
    server = oracle_router
    server.script("Use `a + b`.")
    hub = HubClient(provider="auto", token=TOKEN)
    messages = [{"role": "user", "content": "add a and b"}]
    theirs = await oracle_post(server, lambda: hub.chat_completion(
        messages, model=HUB_ID, max_tokens=24,
    ))
    model = make_model(None, provider="huggingfaceinferenceapi", model=HUB_ID,
                       defaultCompletionOptions={"maxTokens": 24})
    await hf_router_client.chat(model, [ChatMessage("user", "add a and b")],
                                GenerationParams.for_model(model))
    mine = ours(server)
    assert mine.path == theirs.path == "/v1/chat/completions"
    assert mine.json["model"] == theirs.json["model"] == HUB_ID
    assert server.hub_lookups() == []  # the router picks the provider: no mapping lookup
