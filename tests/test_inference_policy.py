"""Fallback chains and the circuit breaker, the workspace-secret rule, tokens, and
cancellation observed by the server as a closed connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bytebuddy_ls.config.loader import ConfigSourceKind, Trust, load_config_text
from bytebuddy_ls.config.schema import ModelConfig
from bytebuddy_ls.config.trust import Provenance, TrustStore
from bytebuddy_ls.inference import (
    AuthError,
    ChatMessage,
    GenerationParams,
    HostNotAllowedError,
    HostPolicy,
    InferenceClient,
    ModelNotFoundError,
    UpstreamServerError,
)
from tests.hf_server import HFTestServer
from tests.inference_support import FAST_POLICY, make_model

pytestmark = pytest.mark.usefixtures("isolated_hf_env")

MESSAGES = [ChatMessage("user", "hi")]
P = GenerationParams()


def params_for(_model: Any) -> GenerationParams:
    return P


@pytest_asyncio.fixture
async def second_server() -> AsyncIterator[HFTestServer]:
    async with HFTestServer() as server:
        yield server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def clocked() -> AsyncIterator[tuple[InferenceClient, FakeClock]]:
    clock = FakeClock()
    client = InferenceClient(policy=FAST_POLICY, clock=clock)
    yield client, clock
    await client.aclose()


# ----- fallback chains and the circuit breaker -------------------------------------------


async def test_chain_falls_back_to_the_next_model_and_says_which_served(
    hf_server: HFTestServer, second_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=404)
    second_server.script("from the second model")
    first = make_model(hf_server.url, name="first")
    second = make_model(second_server.url, name="second")
    text, served = await hf_client.generate_chain([first, second], "x", params_for)
    assert (text, served.name) == ("from the second model", "second")
    text, served = await hf_client.chat_chain([first, second], MESSAGES, params_for)
    assert served.name == "second"


async def test_one_isolated_failure_does_not_disable_a_model(
    hf_server: HFTestServer, second_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=404, times=1)
    first = make_model(hf_server.url, name="first")
    second = make_model(second_server.url, name="second")
    _, served = await hf_client.generate_chain([first, second], "x", params_for)
    assert served.name == "second"
    assert hf_client.model_health("first")["consecutiveFailures"] == 1
    _, served = await hf_client.generate_chain([first, second], "x", params_for)
    assert served.name == "first"
    health = hf_client.model_health("first")
    assert health["state"] == "closed" and health["consecutiveFailures"] == 0


async def open_first_breaker(
    client: InferenceClient, hf_server: HFTestServer, second_server: HFTestServer
) -> tuple[ModelConfig, ModelConfig]:
    """A chain of two models whose first (on ``hf_server``, answering 404) has failed
    until its circuit breaker opened."""
    hf_server.script(status=404)
    first = make_model(hf_server.url, name="first")
    second = make_model(second_server.url, name="second")
    for _ in range(FAST_POLICY.breaker_threshold):
        await client.generate_chain([first, second], "x", params_for)
    return first, second


async def test_breaker_opens_after_consecutive_failures_then_probes_after_cooldown(
    hf_server: HFTestServer,
    second_server: HFTestServer,
    clocked: tuple[InferenceClient, FakeClock],
) -> None:
    client, clock = clocked
    first, second = await open_first_breaker(client, hf_server, second_server)
    assert client.model_health("first")["state"] == "open"
    hits = len(hf_server.requests)
    _, served = await client.generate_chain([first, second], "x", params_for)
    assert served.name == "second"
    assert len(hf_server.requests) == hits  # skipped: no request to the open model

    clock.now += FAST_POLICY.breaker_cooldown_s + 1
    assert client.model_health("first")["state"] == "half-open"
    hf_server.script("recovered")  # the probe succeeds and closes the breaker
    text, served = await client.generate_chain([first, second], "x", params_for)
    assert (text, served.name) == ("recovered", "first")
    assert client.model_health("first")["state"] == "closed"


async def test_failed_probe_reopens_with_longer_cooldown(
    hf_server: HFTestServer,
    second_server: HFTestServer,
    clocked: tuple[InferenceClient, FakeClock],
) -> None:
    client, clock = clocked
    first, second = await open_first_breaker(client, hf_server, second_server)
    clock.now += FAST_POLICY.breaker_cooldown_s + 1
    hits = len(hf_server.requests)
    await client.generate_chain([first, second], "x", params_for)
    assert len(hf_server.requests) == hits + 1  # probed once
    health = client.model_health("first")
    assert health["state"] == "open"
    assert health["retryInSeconds"] == pytest.approx(2 * FAST_POLICY.breaker_cooldown_s)


async def test_all_models_failing_raises_the_first_models_error(
    hf_server: HFTestServer, second_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=401)
    second_server.script(status=404)
    chain = [make_model(hf_server.url, name="first"), make_model(second_server.url, name="second")]
    with pytest.raises(AuthError) as info:
        await hf_client.generate_chain(chain, "x", params_for)
    assert info.value.model == "first"


async def test_every_breaker_open_still_tries_the_first_model(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=404, times=FAST_POLICY.breaker_threshold)
    only = make_model(hf_server.url, name="only")
    for _ in range(FAST_POLICY.breaker_threshold):
        with pytest.raises(ModelNotFoundError):
            await hf_client.generate_chain([only], "x", params_for)
    assert hf_client.model_health("only")["state"] == "open"
    text, served = await hf_client.generate_chain([only], "x", params_for)
    assert served.name == "only" and text == "return a + b"


async def test_stream_chain_falls_back_before_the_first_chunk(
    hf_server: HFTestServer, second_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=402)
    second_server.script("streamed from second")
    chain = [make_model(hf_server.url, name="first"), make_model(second_server.url, name="second")]
    async with hf_client.stream_chat_chain(chain, MESSAGES, params_for) as stream:
        assert stream.model is None
        pieces = [piece async for piece in stream]
    assert "".join(pieces) == "streamed from second"
    assert stream.model is not None and stream.model.name == "second"


async def test_stream_chain_does_not_fall_back_after_the_first_chunk(
    hf_server: HFTestServer, second_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script("alpha beta gamma", error_event="boom", error_type="generation",
                     error_after_tokens=1)
    chain = [make_model(hf_server.url, name="first"), make_model(second_server.url, name="second")]
    stream = hf_client.stream_chat_chain(chain, MESSAGES, params_for)
    received: list[str] = []
    with pytest.raises(UpstreamServerError):
        async for piece in stream:
            received.append(piece)
    assert received == ["alpha"] and stream.model is not None and stream.model.name == "first"
    assert second_server.requests == []


# ----- the untrusted-config guard -------------------------------------------------------


def untrusted_policy() -> HostPolicy:
    return HostPolicy(False, "/repo/.bytebuddy/config.yaml", "trust it with `bytebuddy-ls trust`")


async def test_untrusted_config_never_sends_a_credential_in_clear_text(
    hf_client: InferenceClient,
) -> None:
    hf_client.set_host_policy(untrusted_policy())
    model = make_model("http://collector.example.com", provider="openai", model="m",
                       apiKey="sk-stolen-secret-value").model_copy(update={"trusted": False})
    with pytest.raises(HostNotAllowedError) as info:
        await hf_client.chat(model, MESSAGES, P)
    message = info.value.user_message
    assert "collector.example.com" in message and "bytebuddy-ls trust" in message
    assert "sk-stolen-secret-value" not in message


async def test_untrusted_config_may_send_its_own_key_to_loopback(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_client.set_host_policy(untrusted_policy())
    model = make_model(hf_server.url, provider="openai", model="m", apiKey="sk-local-key-123")
    assert await hf_client.chat(model.model_copy(update={"trusted": False}), MESSAGES, P)
    assert hf_server.requests[-1].authorization == "Bearer sk-local-key-123"
    assert hf_server.requests[-1].headers["Authorization"] == "[REDACTED]"


def test_host_policy_rules() -> None:
    policy = untrusted_policy()
    model = make_model("https://evil.example", provider="openai").model_copy(
        update={"trusted": False}
    )
    assert policy.refusal(model, "http://evil.example/v1/x", sends_credentials=False) is None
    assert policy.refusal(model, "https://evil.example/v1/x", sends_credentials=True) is None
    assert policy.refusal(model, "http://evil.example/v1/x", sends_credentials=True)
    assert policy.refusal(model, "http://127.evil.example/v1/x", sends_credentials=True)
    assert policy.refusal(model, "http://127.0.0.1:9/v1/x", sends_credentials=True) is None
    trusted = HostPolicy()
    assert trusted.refusal(make_model("http://evil.example"), "http://evil.example/v1/x",
                           sends_credentials=True) is None


def test_a_workspace_config_is_untrusted_until_its_content_is(tmp_path: Path) -> None:
    store = TrustStore(tmp_path / "state" / "trusted-configs.json")
    text = "models:\n  - {name: m, provider: openai, model: m, apiBase: 'https://evil.example'}\n"
    trust = Trust(Provenance.WORKSPACE, store)
    first = load_config_text(text, "/repo/.bytebuddy/config.yaml", ConfigSourceKind.WORKSPACE,
                             trust=trust)
    assert not first.trusted and not HostPolicy.for_config(first).trusted
    store.trust(first.digest, "/repo/.bytebuddy/config.yaml")
    again = load_config_text(text, "/repo/.bytebuddy/config.yaml", ConfigSourceKind.WORKSPACE,
                             trust=trust)
    assert again.trusted and again.config.models[0].trusted
    edited = load_config_text(text + "# edited\n", "/repo/.bytebuddy/config.yaml",
                              ConfigSourceKind.WORKSPACE, trust=trust)
    assert not edited.trusted
    assert (store.path.stat().st_mode & 0o777) == 0o600


# ----- tokens ---------------------------------------------------------------------------


async def test_hf_token_goes_to_the_router_but_not_to_a_third_party(
    hf_server: HFTestServer, hf_router_client: InferenceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_environmenttoken1234567890")
    router_model = make_model(None, provider="huggingfaceinferenceapi", model="org/m")
    await hf_router_client.chat(router_model, MESSAGES, P)
    assert hf_server.requests[-1].authorization == "Bearer hf_environmenttoken1234567890"
    other = make_model(hf_server.url, provider="openai", model="m")
    await hf_router_client.chat(other, MESSAGES, P)
    assert hf_server.requests[-1].authorization is None


async def test_token_never_logged_even_at_debug(
    hf_server: HFTestServer, hf_client: InferenceClient, caplog: pytest.LogCaptureFixture
) -> None:
    hf_server.script(status=401, body={"error": "bad token hf_secretsecretsecret123456"})
    model = make_model(hf_server.url, apiKey="hf_secretsecretsecret123456")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        await hf_client.generate(model, "x", P)
    assert "hf_secretsecretsecret123456" not in caplog.text
    assert "hf_secretsecretsecret123456" not in str(info.value)
    assert "hf_secretsecretsecret123456" not in repr(info.value.args)


# ----- cancellation ---------------------------------------------------------------------


async def wait_for_request(server: HFTestServer, count: int = 1) -> None:
    for _ in range(200):
        if len(server.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server never received the request")


async def test_cancelling_a_request_closes_the_connection(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(delay_s=10)
    task = asyncio.create_task(hf_client.generate(make_model(hf_server.url), "x", P))
    await wait_for_request(hf_server, 2)  # GET /info, then the generation request
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await hf_server.wait_for_disconnect(2.0)
    assert time.monotonic() - started < 1.0
    assert hf_server.disconnects == ["/generate"]


@pytest.mark.parametrize("protocol", ["tgi", "openai-chat"])
async def test_cancelling_a_stream_closes_the_connection(
    hf_server: HFTestServer, hf_client: InferenceClient, protocol: str
) -> None:
    hf_server.script("one two three four five six", token_delay_s=0.5)
    if protocol == "tgi":
        stream = hf_client.stream_generate(make_model(hf_server.url), "x", P)
    else:
        model = make_model(hf_server.url, provider="openai", model="m")
        stream = hf_client.stream_chat(model, MESSAGES, P)
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in stream:
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await hf_server.wait_for_disconnect(2.0)


async def test_closing_a_stream_early_closes_the_connection(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script("one two three four five six", token_delay_s=0.5)
    async with contextlib.aclosing(
        hf_client.stream_generate(make_model(hf_server.url), "x", P)
    ) as stream:
        async for _ in stream:
            break
    assert await hf_server.wait_for_disconnect(2.0)


async def test_cancelling_while_waiting_for_a_loading_model_stops_at_once(
    hf_server: HFTestServer,
) -> None:
    hf_server.script(status=503, body={"error": "loading", "estimated_time": 30})
    slow_waits = InferenceClient(policy=FAST_POLICY.__class__(loading_poll_max_s=30))
    try:
        task = asyncio.create_task(slow_waits.generate(make_model(hf_server.url), "x", P))
        await wait_for_request(hf_server)
        await asyncio.sleep(0.05)
        task.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5
        assert len([r for r in hf_server.requests if r.path == "/generate"]) == 1
    finally:
        await slow_waits.aclose()
