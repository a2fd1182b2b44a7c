"""Router routing by the Hub's provider mapping: which provider serves raw-prompt
completion, the mapping cache, billing and the Hub's error codes."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import pytest

from bytebuddy_ls.inference import (
    ChatMessage,
    GatedModelError,
    GenerationParams,
    InferenceClient,
    ModelNotFoundError,
    OverloadedError,
    RetryPolicy,
)
from tests.hf_server import HFTestServer
from tests.inference_support import WaitLog, make_model

P = GenerationParams()
MESSAGES = [ChatMessage("user", "hi")]


def router_model(model_id: str, **extra: object) -> object:
    return make_model(None, provider="huggingfaceinferenceapi", model=model_id, **extra)


def mapping(**providers: tuple[str, str]) -> dict[str, dict[str, str]]:
    """provider=(task, status) → the Hub's dict form, provider ids "<provider>/m"."""
    return {
        name.replace("_", "-"): {"status": status, "providerId": f"{name}/m", "task": task}
        for name, (task, status) in providers.items()
    }


async def test_first_live_text_generation_provider_serves_autocomplete(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.configure(mappings={"org/m": mapping(
        together=("conversational", "live"),
        novita=("text-generation", "staging"),  # not for ordinary users
        groq=("text-generation", "live"),  # no raw-prompt route known for groq
        featherless_ai=("text-generation", "live"),
        deepinfra=("text-generation", "live"),
    )})
    # Without the router's figures, every policy keeps the user's order.
    for model_id in ("org/m", "org/m:fastest", "org/m:cheapest"):
        await hf_router_client.generate(router_model(model_id), "def f():", P)
        assert hf_server.requests[-1].path == "/featherless-ai/v1/completions"
        assert hf_server.requests[-1].json["model"] == "featherless_ai/m"
    await hf_router_client.generate(router_model("org/m:deepinfra"), "def f():", P)
    assert hf_server.requests[-1].path == "/deepinfra/v1/openai/completions"


async def test_cheapest_and_fastest_rank_by_the_routers_figures(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.configure(
        mappings={"org/m": mapping(together=("text-generation", "live"),
                                   novita=("text-generation", "live"),
                                   deepinfra=("text-generation", "live"))},
        router_models={"org/m": [
            {"provider": "together", "status": "live", "pricing": {"input": 0.8, "output": 0.8},
             "throughput": 90, "first_token_latency_ms": 300},
            {"provider": "novita", "status": "live", "pricing": {"input": 0.2, "output": 0.3},
             "throughput": 40, "first_token_latency_ms": 900},
            {"provider": "deepinfra", "status": "error", "pricing": {"input": 0.0, "output": 0.0},
             "throughput": 500},
        ]},
    )
    await hf_router_client.generate(router_model("org/m:cheapest"), "x", P)
    assert hf_server.requests[-1].path == "/novita/v3/openai/completions"
    await hf_router_client.generate(router_model("org/m:fastest"), "x", P)
    assert hf_server.requests[-1].path == "/together/v1/completions"
    await hf_router_client.generate(router_model("org/m"), "x", P)  # the user's order
    assert hf_server.requests[-1].path == "/together/v1/completions"
    assert [r.path for r in hf_server.requests].count("/v1/models/org/m") == 1  # cached


async def test_the_mapping_is_looked_up_once_for_many_completions(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.configure(mappings={"org/m": mapping(together=("text-generation", "live"))})
    model = router_model("org/m")
    await asyncio.gather(*(hf_router_client.generate(model, f"x{i}", P) for i in range(8)))
    await hf_router_client.generate(router_model("org/m:together"), "y", P)
    assert hf_server.hub_lookups() == ["org/m"]
    assert [r.path for r in hf_server.requests].count("/together/v1/completions") == 9


async def test_router_providers_get_only_openai_sampling_fields(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.configure(mappings={"org/m": mapping(together=("text-generation", "live"))})
    params = GenerationParams(max_tokens=9, temperature=0.2, top_p=0.9, top_k=5,
                              repetition_penalty=1.1, stop=("a", "b", "c", "d", "e"))
    await hf_router_client.generate(router_model("org/m"), "x", params)
    sent = hf_server.requests[-1].json
    assert "top_k" not in sent and "repetition_penalty" not in sent
    assert sent["stop"] == ["a", "b", "c", "d"]  # OpenAI's limit on the router


async def test_bill_to_is_sent_to_the_router_only(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    model = router_model("org/m", billTo="my-team")
    await hf_router_client.chat(model, MESSAGES, P)
    assert hf_server.requests[-1].headers["X-HF-Bill-To"] == "my-team"
    other = make_model(hf_server.url, provider="openai", model="m", billTo="my-team")
    await hf_router_client.chat(other, MESSAGES, P)
    assert "X-HF-Bill-To" not in hf_server.requests[-1].headers


async def test_gated_model_says_to_accept_the_licence(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.script(status=403, times=1, match_path="/api/models/meta-llama/Llama-3.1-8B",
                     headers={"X-Error-Code": "GatedRepo"},
                     body={"error": "Access to model meta-llama/Llama-3.1-8B is restricted."})
    with pytest.raises(GatedModelError) as info:
        await hf_router_client.generate(router_model("meta-llama/Llama-3.1-8B"), "x", P)
    message = info.value.user_message
    assert "https://huggingface.co/meta-llama/Llama-3.1-8B" in message
    assert "licence" in message and "token" not in message.split("licence")[0].lower()


async def test_unknown_model_is_reported_by_the_hub_lookup(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.script(status=404, match_path="/api/models/org/missing",
                     headers={"X-Error-Code": "RepoNotFound"},
                     body={"error": "Repository not found"})
    with pytest.raises(ModelNotFoundError) as info:
        await hf_router_client.generate(router_model("org/missing"), "x", P)
    assert "org/missing" in info.value.user_message
    assert [r.path for r in hf_server.requests if r.method == "POST"] == []


async def test_overloaded_429_honours_retry_after(
    hf_server: HFTestServer, isolated_hf_env: None
) -> None:
    client = InferenceClient(policy=RetryPolicy(jitter=0, rate_limit_max_wait_s=5))
    try:
        hf_server.script(status=429, times=1, headers={"Retry-After": "1"},
                         body={"error": "Model is overloaded", "error_type": "overloaded"})
        waits = WaitLog()
        model = make_model(hf_server.url, provider="openai", model="m")
        started = asyncio.get_running_loop().time()
        await client.chat(model, MESSAGES, P, on_wait=waits)
        assert [(w.kind, w.seconds) for w in waits] == [("rate_limited", 1.0)]
        assert asyncio.get_running_loop().time() - started >= 1.0
        assert "overloaded" in waits[0].message
        hf_server.script(status=429, times=4, headers={"Retry-After": "60"},
                         body={"error": "Model is overloaded", "error_type": "overloaded"})
        with pytest.raises(OverloadedError):  # a hint beyond the cap is not waited for
            await client.chat(model, MESSAGES, P)
    finally:
        await client.aclose()


async def test_no_raw_prompt_route_is_logged_once(
    hf_server: HFTestServer, hf_router_client: InferenceClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bytebuddy_ls")  # other tests may have raised it
    hf_server.configure(mappings={"org/chat": mapping(together=("conversational", "live"))})
    model = router_model("org/chat")
    for _ in range(3):
        with pytest.raises(Exception, match="together"):
            await hf_router_client.generate_chain([model], "x", lambda _m: P)
    told = [r for r in caplog.records
            if "raw-prompt" in r.getMessage() and r.levelno >= logging.WARNING]
    assert len(told) == 1


async def test_doctor_shows_which_provider_serves_each_role(
    hf_server: HFTestServer, isolated_hf_env: None, tmp_path: Path
) -> None:
    hf_server.configure(mappings={
        "org/coder": mapping(novita=("conversational", "live"),
                             featherless_ai=("text-generation", "live")),
        "org/staged": mapping(together=("text-generation", "staging")),
    })
    config = tmp_path / "config.yaml"
    config.write_text(
        "models:\n"
        "  - {name: coder, provider: huggingfaceinferenceapi, model: org/coder,"
        " roles: [autocomplete, chat]}\n"
        "  - {name: staged, provider: huggingfaceinferenceapi, model: 'org/staged:together',"
        " roles: [autocomplete]}\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "HF_TOKEN": "hf_doctortest0123456789",
           "HF_ENDPOINT": hf_server.url, "BYTEBUDDY_ROUTER_URL": hf_server.url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bytebuddy_ls", "doctor", "--config", str(config),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert "autocomplete → featherless-ai (featherless_ai/m), text-generation" in text, text
    assert "chat → the router picks (fastest) among novita" in text, text
    assert "together (together/m) WARNING: status 'staging'" in text, text
    assert process.returncode == 2  # a warning is a problem to fix
    assert "hf_doctortest" not in text
