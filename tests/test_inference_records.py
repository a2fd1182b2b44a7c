"""One ``UpstreamCall`` record per upstream attempt, with the server's own token counts
when it reports them (OpenAI ``usage``, TGI ``details`` and ``x-*-tokens`` headers)."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from bytebuddy_ls.inference import (
    AuthError,
    ChatMessage,
    GenerationParams,
    InferenceClient,
    UpstreamCall,
)
from tests.hf_server import HFTestServer, split_tokens
from tests.inference_support import make_model

pytestmark = pytest.mark.usefixtures("isolated_hf_env")

MESSAGES = [ChatMessage("user", "add a and b")]
REPLY = "return a + b  # the sum"


def observe(client: InferenceClient) -> list[UpstreamCall]:
    records: list[UpstreamCall] = []
    client.add_observer(records.append)
    return records


async def test_chat_record_carries_the_servers_usage(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    records = observe(hf_client)
    hf_server.script(REPLY)
    model = make_model(hf_server.url, provider="openai", model="served-id", name="gpt")
    answer = await hf_client.chat(
        model, MESSAGES, GenerationParams(max_tokens=64), role="edit", operation="explain"
    )
    assert answer == REPLY and answer.finish_reason == "stop" and not answer.truncated
    [record] = records
    assert (record.model, record.model_id, record.provider) == ("gpt", "served-id", "openai")
    assert (record.role, record.operation, record.outcome) == ("edit", "explain", "ok")
    assert record.prompt_tokens == 5  # what the server said, not an estimate
    assert record.completion_tokens == len(split_tokens(REPLY)) and not record.estimated
    assert record.finish_reason == "stop" and record.ttft_s is None
    assert record.latency_s > 0 and record.started > 1.7e9


async def test_streamed_chat_asks_for_usage_and_records_time_to_first_token(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    records = observe(hf_client)
    hf_server.script(REPLY)
    model = make_model(hf_server.url, provider="openai", model="m")
    pieces = [p async for p in hf_client.stream_chat(model, MESSAGES, GenerationParams())]
    assert "".join(pieces) == REPLY
    assert hf_server.requests[-1].json["stream_options"] == {"include_usage": True}
    [record] = records
    assert not record.estimated and record.completion_tokens == len(split_tokens(REPLY))
    assert record.ttft_s is not None and 0 < record.ttft_s <= record.latency_s
    assert record.role == "chat" and record.operation == "chat"


async def test_tgi_counts_come_from_details_and_headers(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    records = observe(hf_client)
    hf_server.script(REPLY)
    model = make_model(hf_server.url)  # TGI
    await hf_client.generate(model, "def add(a, b):", GenerationParams(max_tokens=64))
    [record] = records
    assert record.provider == "tgi" and record.role == "autocomplete"
    assert record.prompt_tokens == 4  # x-prompt-tokens: 14 characters, 4 per token
    assert record.completion_tokens == len(split_tokens(REPLY)) and not record.estimated
    assert record.finish_reason == "stop"  # TGI's eos_token


async def test_counts_are_estimated_when_the_server_reports_none(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    records = observe(hf_client)
    hf_server.configure(engine="toolkit")
    model = make_model(hf_server.url, provider="huggingfaceinferenceapi")
    hf_server.script(REPLY, headers={"x-prompt-tokens": "nope"})
    await hf_client.generate(model, "x" * 30, GenerationParams())
    [record] = records
    assert record.provider == "endpoint" and record.estimated
    assert record.prompt_tokens == 10 and record.completion_tokens > 0


async def test_every_attempt_is_recorded_including_failures(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    records = observe(hf_client)
    hf_server.script(status=429, times=1, body={"error": "Model is overloaded",
                                                "error_type": "overloaded"})
    model = make_model(hf_server.url, provider="openai", model="m")
    await hf_client.chat(model, MESSAGES, GenerationParams())
    assert [r.outcome for r in records] == ["overloaded", "ok"]
    hf_server.script(status=401, times=1)
    with pytest.raises(AuthError):
        await hf_client.chat(model, MESSAGES, GenerationParams())
    assert records[-1].outcome == "auth"


async def test_a_cancelled_stream_is_recorded_with_what_it_generated(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    records = observe(hf_client)
    hf_server.script(" ".join(f"word{i}" for i in range(50)), token_delay_s=0.02)
    model = make_model(hf_server.url, provider="openai", model="m")
    received = 0
    async with aclosing(hf_client.stream_chat(model, MESSAGES, GenerationParams())) as stream:
        async for _ in stream:
            received += 1
            if received == 3:
                break
    [record] = records
    assert record.outcome == "cancelled" and record.estimated
    assert 0 < record.completion_tokens < 50


async def test_router_record_names_the_provider_and_its_model_id(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    records = observe(hf_router_client)
    hf_server.configure(mappings={"org/coder": {
        "together": {"status": "live", "providerId": "org/coder-turbo", "task": "text-generation"},
    }})
    model = make_model(None, provider="huggingfaceinferenceapi", model="org/coder", name="c")
    await hf_router_client.generate(model, "def f():", GenerationParams())
    [record] = records  # the Hub lookup is not an inference call
    assert (record.provider, record.model_id, record.model) == ("together", "org/coder-turbo", "c")
    assert not record.estimated


async def test_a_failing_observer_does_not_break_inference(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    def broken(_record: UpstreamCall) -> None:
        raise RuntimeError("observer bug")

    hf_client.add_observer(broken)
    records = observe(hf_client)
    model = make_model(hf_server.url, provider="openai", model="m")
    assert await hf_client.chat(model, MESSAGES, GenerationParams()) == "return a + b"
    assert len(records) == 1
