"""Each wire protocol, streaming and not, against the loopback HF server; routing,
detection and parameter mapping."""

from __future__ import annotations

import pytest

from bytebuddy_ls.inference import (
    ChatMessage,
    GenerationParams,
    InferenceClient,
    ProtocolError,
    ServerLimits,
    UnsupportedOperationError,
)
from tests.hf_server import HFTestServer
from tests.inference_support import make_model

pytestmark = pytest.mark.usefixtures("isolated_hf_env")

MESSAGES = [ChatMessage("system", "You write code."), ChatMessage("user", "add a and b")]
REPLY = "return a + b  # sum"
P_DEFAULT = GenerationParams()


async def collect(stream: object) -> list[str]:
    return [piece async for piece in stream]  # type: ignore[attr-defined]


# ----- TGI native --------------------------------------------------------------------


async def test_tgi_generate_posts_to_generate_and_returns_text(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(REPLY)
    model = make_model(hf_server.url, defaultCompletionOptions={"maxTokens": 32})
    params = GenerationParams.for_model(model)
    text = await hf_client.generate(model, "def add(a, b):\n    ", params)
    assert text == REPLY
    generate = [r for r in hf_server.requests if r.path == "/generate"]
    assert len(generate) == 1
    body = generate[0].json
    assert body["inputs"] == "def add(a, b):\n    "
    assert body["parameters"]["max_new_tokens"] == 32
    assert body["parameters"]["return_full_text"] is False
    assert generate[0].headers["User-Agent"].startswith("bytebuddy-ls/")


async def test_tgi_stream_generate_yields_several_chunks_without_special_tokens(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(REPLY)
    model = make_model(hf_server.url)
    pieces = await collect(hf_client.stream_generate(model, "x", GenerationParams()))
    assert len(pieces) > 1
    assert "".join(pieces) == REPLY
    assert "</s>" not in "".join(pieces)
    stream = [r for r in hf_server.requests if r.path == "/generate_stream"]
    assert stream and stream[0].headers["Accept"] == "text/event-stream"


async def test_tgi_chat_uses_messages_api_with_model_tgi(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(REPLY)
    model = make_model(hf_server.url, model="my-org/my-model")
    assert await hf_client.chat(model, MESSAGES, GenerationParams(max_tokens=10)) == REPLY
    chat = [r for r in hf_server.requests if r.path == "/v1/chat/completions"]
    assert chat[0].json["model"] == "tgi"
    assert chat[0].json["messages"][1] == {"role": "user", "content": "add a and b"}
    pieces = await collect(hf_client.stream_chat(model, MESSAGES, GenerationParams()))
    assert len(pieces) > 1 and "".join(pieces) == REPLY


async def test_tgi_limits_come_from_info_and_are_cached(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.configure(info={"max_input_tokens": 3000, "max_total_tokens": 4096,
                              "max_stop_sequences": 2})
    model = make_model(hf_server.url)
    limits = await hf_client.limits(model)
    assert limits == ServerLimits(3000, 4096, 2)
    await hf_client.limits(model)
    assert hf_server.paths().count("/info") == 1


# ----- TGI parameter rules (the server validates like TGI: a wrong mapping is a 422) ---


async def test_tgi_temperature_zero_becomes_greedy(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    model = make_model(hf_server.url)
    params = GenerationParams(temperature=0.0, top_p=0.9, top_k=10)
    assert await hf_client.generate(model, "x", params) == "return a + b"
    sent = hf_server.requests[-1].json["parameters"]
    assert sent["do_sample"] is False
    assert "temperature" not in sent


async def test_tgi_top_p_of_one_is_dropped_and_sampling_kept(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    model = make_model(hf_server.url)
    await hf_client.generate(model, "x", GenerationParams(temperature=0.2, top_p=1.0, top_k=40,
                                                       repetition_penalty=1.1, seed=7))
    sent = hf_server.requests[-1].json["parameters"]
    assert "top_p" not in sent
    assert sent == {"return_full_text": False, "temperature": 0.2, "do_sample": True,
                    "top_k": 40, "repetition_penalty": 1.1, "seed": 7, "details": True}


async def test_tgi_stop_list_capped_to_max_stop_sequences(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.configure(info={"max_stop_sequences": 2})
    model = make_model(hf_server.url)
    stops = ("\n\n", "\ndef ", "\nclass ", "<|endoftext|>", "```")
    await hf_client.generate(model, "x", GenerationParams(stop=stops))
    assert hf_server.requests[-1].json["parameters"]["stop"] == ["\n\n", "\ndef "]


async def test_default_stop_cap_is_four_when_limits_unknown(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    model = make_model(None, provider="huggingfaceinferenceapi")
    stops = ("a", "b", "c", "d", "e", "f")
    await hf_router_client.chat(model, MESSAGES, GenerationParams(stop=stops))
    assert hf_server.requests[-1].json["stop"] == ["a", "b", "c", "d"]


async def test_tgi_max_new_tokens_kept_within_max_total_tokens(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.configure(info={"max_input_tokens": 1000, "max_total_tokens": 1024})
    model = make_model(hf_server.url)
    prompt = "x" * 2400  # 600 tokens for the server; the client must leave room for them
    await hf_client.generate(model, prompt, GenerationParams(max_tokens=800))
    generate = [r for r in hf_server.requests if r.path == "/generate"]
    assert len(generate) == 1  # accepted at once, no 422 round trip
    max_new = generate[0].json["parameters"]["max_new_tokens"]
    assert 1 <= max_new <= 1024 - 600


async def test_tgi_422_length_error_shrinks_max_new_tokens_and_retries_once(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    # No limits in /info, so the client cannot pre-size; the scripted 422 tells it.
    hf_server.configure(info={"max_total_tokens": 0}, validate=False)
    hf_server.script(
        status=422, times=1,
        body={"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be "
                       "<= 2048. Given: 1900 `inputs` tokens and 256 `max_new_tokens`",
              "error_type": "validation"},
    )
    model = make_model(hf_server.url)
    assert await hf_client.generate(model, "x", GenerationParams(max_tokens=256)) == "return a + b"
    generate = [r for r in hf_server.requests if r.path == "/generate"]
    assert [r.json["parameters"]["max_new_tokens"] for r in generate] == [256, 148]


# ----- router: chat and hf-inference text generation ----------------------------------


async def test_router_chat_sends_model_id_with_provider_suffix(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.script(REPLY)
    model = make_model(None, provider="huggingfaceinferenceapi",
                       model="Qwen/Qwen2.5-Coder-32B-Instruct:together")
    assert await hf_router_client.chat(model, MESSAGES, GenerationParams(max_tokens=5)) == REPLY
    request = hf_server.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.json["model"] == "Qwen/Qwen2.5-Coder-32B-Instruct:together"
    assert request.json["max_tokens"] == 5 and request.json["stream"] is False
    pieces = await collect(hf_router_client.stream_chat(model, MESSAGES, GenerationParams()))
    assert len(pieces) > 1 and "".join(pieces) == REPLY


async def test_router_generate_uses_hf_inference_openai_completions_route(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.script(REPLY)
    model = make_model(None, provider="huggingfaceinferenceapi", model="bigcode/starcoder2-3b")
    assert hf_router_client.supports_raw_prompt(model) is None
    text = await hf_router_client.generate(model, "def add(a, b):", GenerationParams())
    assert text == REPLY
    assert hf_server.hub_lookups() == ["bigcode/starcoder2-3b"]
    request = hf_server.requests[-1]
    assert request.path == "/hf-inference/models/bigcode/starcoder2-3b/v1/completions"
    assert request.json["model"] == "bigcode/starcoder2-3b"
    assert request.json["prompt"] == "def add(a, b):" and request.json["stream"] is False
    assert hf_router_client.supports_raw_prompt(model) is True
    pieces = await collect(hf_router_client.stream_generate(model, "def add(a, b):",
                                                         GenerationParams()))
    assert len(pieces) > 1 and "".join(pieces) == REPLY
    assert hf_server.requests[-1].json["stream"] is True
    assert hf_server.hub_lookups() == ["bigcode/starcoder2-3b"]  # the mapping is cached


async def test_router_hf_inference_falls_back_to_the_task_route_and_remembers(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.script(REPLY)
    hf_server.script(status=404, match_path="/hf-inference/models/gpt2/v1/completions")
    model = make_model(None, provider="huggingfaceinferenceapi", model="gpt2")
    assert await hf_router_client.generate(model, "def add(a, b):", GenerationParams()) == REPLY
    assert hf_server.paths()[1:] == ["/hf-inference/models/gpt2/v1/completions",
                                     "/hf-inference/models/gpt2"]
    # The task route echoes the prompt unless return_full_text is false.
    assert hf_server.requests[-1].json["parameters"]["return_full_text"] is False
    pieces = await collect(hf_router_client.stream_generate(model, "x", GenerationParams()))
    assert "".join(pieces) == REPLY and len(pieces) > 1
    assert hf_server.paths()[-1] == "/hf-inference/models/gpt2"  # remembered
    assert hf_server.requests[-1].json["stream"] is True


async def test_router_model_no_provider_serves_as_text_generation_is_explained(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.configure(mappings={"org/m": {
        "together": {"status": "live", "providerId": "org/m-turbo", "task": "conversational"},
        "novita": {"status": "live", "providerId": "org/m", "task": "conversational"},
        "nebius": {"status": "staging", "providerId": "org/m", "task": "conversational"},
    }})
    for model_id in ("org/m", "org/m:together", "org/m:fastest"):
        model = make_model(None, provider="huggingfaceinferenceapi", model=model_id)
        with pytest.raises(UnsupportedOperationError) as info:
            await hf_router_client.generate(model, "x", GenerationParams())
        message = info.value.user_message
        assert model_id in message and "together, novita" in message and "nebius" not in message
        assert "via: chat" in message
        assert hf_router_client.supports_raw_prompt(model) is False
    assert hf_server.paths() == ["/api/models/org/m"]  # one lookup, no generation request


async def test_router_404_on_generate_marks_raw_prompt_unsupported(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.script(status=404, match_path="/hf-inference/models/meta/big-chat-model*")
    model = make_model(None, provider="huggingfaceinferenceapi", model="meta/big-chat-model")
    with pytest.raises(Exception, match="meta/big-chat-model"):
        await hf_router_client.generate(model, "x", GenerationParams())
    assert hf_router_client.supports_raw_prompt(model) is False


async def test_legacy_api_inference_base_goes_to_router(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    model = make_model("https://api-inference.huggingface.co", provider="huggingfaceinferenceapi")
    await hf_router_client.chat(model, MESSAGES, GenerationParams())
    assert hf_server.requests[-1].path == "/v1/chat/completions"


# ----- OpenAI-compatible -------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
async def test_openai_routes_do_not_double_v1(
    hf_server: HFTestServer, hf_client: InferenceClient, suffix: str
) -> None:
    hf_server.script(REPLY)
    model = make_model(hf_server.url + suffix, provider="openai", model="qwen2.5-coder")
    assert await hf_client.generate(model, "def f():", GenerationParams(max_tokens=9)) == REPLY
    assert hf_server.requests[-1].path == "/v1/completions"
    assert hf_server.requests[-1].json == {"model": "qwen2.5-coder", "prompt": "def f():",
                                           "max_tokens": 9, "stream": False}
    assert await hf_client.chat(model, MESSAGES, GenerationParams()) == REPLY
    assert hf_server.requests[-1].path == "/v1/chat/completions"
    assert hf_server.requests[-1].json["model"] == "qwen2.5-coder"


async def test_openai_streams_completions_and_chat(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(REPLY)
    model = make_model(hf_server.url, provider="openai", model="m")
    pieces = await collect(hf_client.stream_generate(model, "x", GenerationParams()))
    assert len(pieces) > 1 and "".join(pieces) == REPLY
    pieces = await collect(hf_client.stream_chat(model, MESSAGES, GenerationParams()))
    assert len(pieces) > 1 and "".join(pieces) == REPLY


async def test_openai_server_gets_every_sampling_field(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    model = make_model(hf_server.url, provider="openai", model="m",
                       defaultCompletionOptions={"temperature": 0, "topP": 0.9, "topK": 5,
                                                 "repetitionPenalty": 1.2, "stop": ["\n\n"],
                                                 "maxTokens": 64})
    await hf_client.chat(model, MESSAGES, GenerationParams.for_model(model, seed=3))
    sent = hf_server.requests[-1].json
    assert {k: v for k, v in sent.items() if k not in ("messages",)} == {
        "model": "m", "max_tokens": 64, "temperature": 0, "top_p": 0.9, "stop": ["\n\n"],
        "seed": 3, "stream": False, "top_k": 5, "repetition_penalty": 1.2,
    }


# ----- stream tolerance ---------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [{"sse_no_space": True}, {"omit_done": True}, {"keepalive": True},
     {"sse_no_space": True, "omit_done": True, "keepalive": True}],
)
@pytest.mark.parametrize("protocol", ["tgi-generate", "tgi-chat", "openai-completions"])
async def test_streams_tolerate_sse_variants(
    hf_server: HFTestServer, hf_client: InferenceClient, variant: dict[str, bool], protocol: str
) -> None:
    hf_server.script(REPLY, **variant)
    if protocol == "tgi-generate":
        stream = hf_client.stream_generate(make_model(hf_server.url), "x", GenerationParams())
    elif protocol == "tgi-chat":
        stream = hf_client.stream_chat(make_model(hf_server.url), MESSAGES, GenerationParams())
    else:
        model = make_model(hf_server.url, provider="openai", model="m")
        stream = hf_client.stream_generate(model, "x", GenerationParams())
    assert "".join(await collect(stream)) == REPLY


async def test_garbage_answer_is_a_protocol_error(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(body="<html>this is not json</html>", status=200, times=1)
    model = make_model(hf_server.url)
    with pytest.raises(ProtocolError) as info:
        await hf_client.generate(model, "x", GenerationParams())
    assert "test-model" in info.value.user_message


async def test_garbage_stream_event_is_a_protocol_error(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=200, times=1, headers={"Content-Type": "text/event-stream"},
                     body="data: {not json\n\n")
    with pytest.raises(ProtocolError):
        await collect(hf_client.stream_generate(make_model(hf_server.url), "x", GenerationParams()))


# ----- detection (huggingfaceinferenceapi with a custom apiBase) -----------------------


@pytest.mark.parametrize(
    ("engine", "generate_path", "chat_path"),
    [
        ("tgi", "/generate", "/v1/chat/completions"),
        ("openai", "/v1/completions", "/v1/chat/completions"),
        ("toolkit", "/", None),
    ],
)
async def test_engine_detected_once_and_cached(
    hf_server: HFTestServer, hf_client: InferenceClient, engine: str, generate_path: str,
    chat_path: str | None,
) -> None:
    hf_server.configure(engine=engine)
    hf_server.script(REPLY)
    model = make_model(hf_server.url, provider="huggingfaceinferenceapi")
    assert hf_client.supports_raw_prompt(model) is None
    assert await hf_client.generate(model, "x", GenerationParams()) == REPLY
    assert await hf_client.generate(model, "x", GenerationParams()) == REPLY
    assert hf_client.supports_raw_prompt(model) is True
    paths = hf_server.paths()
    assert paths.count(generate_path) == 2
    assert paths.count("/info") <= (2 if engine == "tgi" else 1)  # detection + limits
    assert paths.count("/v1/models") == (1 if engine != "tgi" else 0)
    if chat_path is None:
        with pytest.raises(UnsupportedOperationError):
            await hf_client.chat(model, MESSAGES, GenerationParams())
    else:
        assert await hf_client.chat(model, MESSAGES, GenerationParams()) == REPLY
        assert hf_server.paths()[-1] == chat_path


async def test_toolkit_streams_through_root_route(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.configure(engine="toolkit")
    hf_server.script(REPLY)
    model = make_model(hf_server.url, provider="huggingfaceinferenceapi")
    pieces = await collect(hf_client.stream_generate(model, "x", GenerationParams()))
    assert "".join(pieces) == REPLY
    assert hf_server.requests[-1].json["stream"] is True


def test_params_for_model_applies_overrides() -> None:
    model = make_model("http://127.0.0.1:1", defaultCompletionOptions={
        "temperature": 0.2, "maxTokens": 256, "topP": 0.95, "topK": 40,
        "repetitionPenalty": 1.1, "stop": ["\n\n"]})
    params = GenerationParams.for_model(model, max_tokens=64, stop=["x", "y"], top_k=None)
    assert params == GenerationParams(max_tokens=64, temperature=0.2, top_p=0.95, top_k=40,
                                      repetition_penalty=1.1, stop=("x", "y"))
    with pytest.raises(TypeError):
        GenerationParams.for_model(model, max_new_tokens=3)


async def test_special_end_token_never_surfaces_as_text(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script("return a<|endoftext|>junk")
    pieces = await collect(hf_client.stream_generate(make_model(hf_server.url), "x", P_DEFAULT))
    assert "".join(pieces) == "return a"


async def test_stop_list_is_capped_only_by_a_limit_the_server_has(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    stops = ("<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "\n\n", "##")
    server = make_model(hf_server.url, provider="openai", model="m")  # vLLM, llama.cpp: no cap
    await hf_client.generate(server, "x", GenerationParams(stop=stops))
    assert hf_server.requests[-1].json["stop"] == list(stops)  # the user's own stops too
    hf_server.configure(info={"max_stop_sequences": 5})
    tgi = make_model(hf_server.url)  # TGI says how many it takes
    await hf_client.chat(tgi, MESSAGES, GenerationParams(stop=stops))
    assert hf_server.requests[-1].json["stop"] == list(stops[:5])
