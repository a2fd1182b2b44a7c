"""Every row of the reference's error table, against the loopback server, plus the one
tolerant error-body parser and the retry/wait policy."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from bytebuddy_ls.inference import (
    AuthError,
    BadRequestError,
    ChatMessage,
    ConnectError,
    GenerationParams,
    InferenceClient,
    InputTooLongError,
    ModelLoadingError,
    ModelNotFoundError,
    OverloadedError,
    PaymentRequiredError,
    RateLimitedError,
    UpstreamServerError,
    UpstreamTimeoutError,
)
from bytebuddy_ls.inference.errors import error_message, retry_after_seconds
from bytebuddy_ls.log import secrets
from tests.hf_server import HFTestServer
from tests.inference_support import WaitLog, make_model

pytestmark = pytest.mark.usefixtures("isolated_hf_env")

MESSAGES = [ChatMessage("user", "hi")]
P = GenerationParams()


def generation_requests(server: HFTestServer) -> list[Any]:
    return [r for r in server.requests if r.path in ("/generate", "/generate_stream")]


async def collect(stream: Any) -> list[str]:
    return [piece async for piece in stream]


# ----- the body parser ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        ('{"error": "Model X is currently loading"}', {}, "Model X is currently loading"),
        ('{"error": ["first problem", "second problem"]}', {}, "first problem; second problem"),
        ('{"error": {"message": "nested", "type": "invalid_request_error"}}', {}, "nested"),
        ('{"message": "top-level message"}', {}, "top-level message"),
        ('{"detail": "detail text"}', {}, "detail text"),
        ('{"detail": [{"msg": "field required", "loc": ["body"]}]}', {}, "field required"),
        ("Failed to deserialize the JSON body", {}, "Failed to deserialize the JSON body"),
        ("<html><title>502 Bad Gateway</title><body>nginx</body></html>", {}, "502 Bad Gateway"),
        ("", {"x-error-message": "Invalid credentials in Authorization header"},
         "Invalid credentials in Authorization header"),
        ("", {}, ""),
    ],
)
def test_error_message_reads_every_body_shape(
    body: str, headers: dict[str, str], expected: str
) -> None:
    assert error_message(body, headers) == expected


def test_error_message_never_shows_a_secret() -> None:
    secrets.add("hf_abcdefghijklmnopqrstuv")
    text = error_message('{"error": "bad token hf_abcdefghijklmnopqrstuv"}')
    assert "hf_abcdefghijklmnopqrstuv" not in text


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"ratelimit": '"default";r=0;t=12'}, 12.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


# ----- 503 loading --------------------------------------------------------------------


async def test_503_loading_waits_with_progress_then_succeeds(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=503, times=2,
                     body={"error": "Model bigcode/starcoder2-3b is currently loading",
                           "estimated_time": 0.02})
    waits = WaitLog()
    text = await hf_client.generate(make_model(hf_server.url), "x", P, on_wait=waits)
    assert text == "return a + b"
    assert [w.kind for w in waits] == ["loading", "loading"]
    assert waits[0].model == "test-model" and waits[0].seconds == pytest.approx(0.02)
    assert "loading" in waits[0].message
    assert len(generation_requests(hf_server)) == 3


async def test_503_loading_gives_up_after_the_wait_budget(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=503)  # loading forever (estimated_time 20 s, budget 0.3 s)
    started = time.monotonic()
    with pytest.raises(ModelLoadingError) as info:
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert time.monotonic() - started < 2
    assert info.value.estimated_time == 20.0 and info.value.retryable


# ----- 503/502/500: waking Inference Endpoint or server error ----------------------------

ENDPOINT_URL = "http://my-coder.us-east-1.aws.endpoints.huggingface.cloud"


@pytest.fixture
def via_proxy(forward_proxy: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Requests to any host reach the loopback server through a forward proxy, so an
    Endpoint's real host name can be used."""
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    return forward_proxy


@pytest.mark.parametrize(("status", "body"), [(503, ""), (502, "<html>Bad Gateway</html>"),
                                              (503, {"error": "Service Unavailable"})])
async def test_waking_endpoint_is_held_from_the_first_invoked_request(
    hf_server: HFTestServer, hf_client: InferenceClient, via_proxy: Any, status: int, body: Any
) -> None:
    hf_server.script(status=status, body=body, times=1)
    waits = WaitLog()
    model = make_model(ENDPOINT_URL, provider="openai", model="m")
    assert await hf_client.chat(model, MESSAGES, P, on_wait=waits) == "return a + b"
    assert [w.kind for w in waits] == ["waking"]
    chats = [r for r in hf_server.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 2
    assert all(int(c.headers["X-Scale-Up-Timeout"]) > 0 for c in chats)
    assert "my-coder.us-east-1.aws.endpoints.huggingface.cloud" in via_proxy.hosts


async def test_automatic_completion_does_not_wait_for_a_waking_endpoint(
    hf_server: HFTestServer, hf_client: InferenceClient, via_proxy: Any
) -> None:
    hf_server.script(status=503, body="")
    waits = WaitLog()
    model = make_model(ENDPOINT_URL, provider="openai", model="m")
    started = time.monotonic()
    with pytest.raises(ModelLoadingError) as info:
        await hf_client.generate(model, "x", P, on_wait=waits, automatic=True)
    assert info.value.waking and time.monotonic() - started < 1
    completions = [r for r in hf_server.requests if r.path == "/v1/completions"]
    assert len(completions) == 1 and "X-Scale-Up-Timeout" not in completions[0].headers
    assert [w.kind for w in waits] == ["waking"]  # the editor shows why, without waiting


@pytest.mark.parametrize(("status", "body"), [(500, ""), (500, "Internal Server Error"),
                                              (503, ""), (502, "<html>Bad Gateway</html>")])
async def test_self_hosted_5xx_is_a_server_error_not_a_waking_endpoint(
    hf_server: HFTestServer, hf_client: InferenceClient, status: int, body: str
) -> None:
    hf_server.script(status=status, body=body)
    waits = WaitLog()
    model = make_model(hf_server.url, provider="openai", model="m")
    started = time.monotonic()
    with pytest.raises(UpstreamServerError):
        await hf_client.chat(model, MESSAGES, P, on_wait=waits)
    assert time.monotonic() - started < 2
    assert {w.kind for w in waits} == {"retrying"}
    assert all("X-Scale-Up-Timeout" not in r.headers for r in hf_server.requests)


# ----- 429 ---------------------------------------------------------------------------


async def test_429_overloaded_backs_off_then_succeeds(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=429, times=2)  # TGI: {"error":"Model is overloaded",...}
    waits = WaitLog()
    assert await hf_client.generate(make_model(hf_server.url), "x", P, on_wait=waits)
    assert [w.kind for w in waits] == ["rate_limited", "rate_limited"]


async def test_429_overloaded_gives_up_after_bounded_retries(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=429)
    with pytest.raises(OverloadedError):
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert len(generation_requests(hf_server)) == 1 + hf_client.policy.rate_limit_retries


@pytest.mark.parametrize("header", [{"Retry-After": "0.2"}, {"RateLimit": '"x";r=0;t=0.2'}])
async def test_429_rate_limit_honours_retry_hint(
    hf_server: HFTestServer, hf_client: InferenceClient, header: dict[str, str]
) -> None:
    hf_server.script(status=429, times=1, headers=header,
                     body={"error": "Rate limit reached. Please retry later."})
    waits = WaitLog()
    started = time.monotonic()
    assert await hf_client.generate(make_model(hf_server.url), "x", P, on_wait=waits)
    assert time.monotonic() - started >= 0.2
    assert waits[0].kind == "rate_limited" and waits[0].seconds == pytest.approx(0.2)


async def test_429_with_long_retry_after_fails_fast_with_the_hint(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=429, headers={"Retry-After": "3600"},
                     body={"error": "You have reached the free monthly usage limit."})
    with pytest.raises(RateLimitedError) as info:
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert info.value.retry_after == 3600
    assert len(generation_requests(hf_server)) == 1


# ----- not retryable: 402, 401, 403, 404, 400, 410, 413, 422 ------------------------------


async def test_402_payment_required_is_not_retried(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=402)
    with pytest.raises(PaymentRequiredError) as info:
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert "credits" in info.value.user_message and "test-model" in info.value.user_message
    assert len(generation_requests(hf_server)) == 1


async def test_401_names_the_model_and_how_to_set_the_token(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=401, headers={"X-Error-Message": "Invalid username or password."})
    model = make_model(hf_server.url, apiKey="hf_wrongwrongwrongwrong1234")
    with pytest.raises(AuthError) as info:
        await hf_client.generate(model, "x", P)
    message = info.value.user_message
    assert "test-model" in message and "HF_TOKEN" in message and "401" in message
    assert "hf_wrongwrongwrongwrong1234" not in message
    assert len(generation_requests(hf_server)) == 1


async def test_401_with_empty_body_from_tgi_api_key(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=401, body=None)
    with pytest.raises(AuthError):
        await hf_client.generate(make_model(hf_server.url), "x", P)


async def test_403_reads_x_error_message(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=403, body=None,
                     headers={"X-Error-Message": "This token lacks inference permission"})
    with pytest.raises(AuthError) as info:
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert "lacks inference permission" in info.value.user_message


async def test_404_names_the_model(hf_server: HFTestServer, hf_client: InferenceClient) -> None:
    hf_server.script(status=404, body="Not Found")
    model = make_model(hf_server.url, provider="openai", model="org/typo-model")
    with pytest.raises(ModelNotFoundError) as info:
        await hf_client.chat(model, MESSAGES, P)
    assert "org/typo-model" in info.value.user_message
    assert len(hf_server.requests) == 1


async def test_400_model_not_supported_by_router(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    hf_server.script(status=400, body={"error": {
        "message": "The requested model 'org/m' is not supported by any provider you have "
                   "enabled.", "type": "invalid_request_error", "code": "model_not_supported"}})
    model = make_model(None, provider="huggingfaceinferenceapi", model="org/m")
    with pytest.raises(ModelNotFoundError) as info:
        await hf_router_client.chat(model, MESSAGES, P)
    assert "not supported by any provider" in info.value.user_message


async def test_400_unused_model_kwargs_drops_them_and_retries_once(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    # An hf-inference model served by a transformers pipeline: no OpenAI route, and the
    # task route rejects sampling arguments the model does not use.
    legacy = "/hf-inference/models/gpt2"
    hf_server.script(status=404, match_path=f"{legacy}/v1/completions")
    hf_server.script(status=400, times=1, body={
        "error": "The following `model_kwargs` are not used by the model: ['top_k', "
                 "'repetition_penalty'] (note: typos in the generate arguments will also show "
                 "up in this list)"})
    model = make_model(None, provider="huggingfaceinferenceapi", model="gpt2")
    params = GenerationParams(top_k=5, repetition_penalty=1.2, max_tokens=8)
    assert await hf_router_client.generate(model, "x", params) == "return a + b"
    first, second = (r.json["parameters"] for r in hf_server.requests if r.path == legacy)
    assert "top_k" in first and "top_k" not in second and "repetition_penalty" not in second
    assert second["max_new_tokens"] == 8
    count = len(hf_server.requests)
    await hf_router_client.generate(model, "x", params)  # remembered: no second lesson
    assert hf_server.requests[-1].path == legacy
    assert "top_k" not in hf_server.requests[-1].json["parameters"]
    assert len(hf_server.requests) == count + 1


async def test_400_other_is_a_bad_request_without_retry(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=400, body={"error": "Invalid state"})
    with pytest.raises(BadRequestError) as info:
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert "paused" in info.value.user_message
    assert len(generation_requests(hf_server)) == 1


async def test_410_legacy_host_says_to_use_the_router(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=410)
    model = make_model(hf_server.url, provider="openai", model="m")
    with pytest.raises(ModelNotFoundError) as info:
        await hf_client.chat(model, MESSAGES, P)
    assert "router" in info.value.user_message


async def test_413_payload_too_large_is_input_too_long(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=413, body="Payload Too Large")
    with pytest.raises(InputTooLongError):
        await hf_client.generate(make_model(hf_server.url), "x", P)


async def test_422_prompt_over_max_input_is_input_too_long(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.configure(info={"max_input_tokens": 10, "max_total_tokens": 2048})
    with pytest.raises(InputTooLongError) as info:
        await hf_client.generate(make_model(hf_server.url), "y" * 400, P)
    assert info.value.limit_tokens == 10 and info.value.input_tokens == 100


async def test_422_plain_text_is_a_bad_request(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=422, body="Failed to deserialize the JSON body into the target type")
    with pytest.raises(BadRequestError) as info:
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert "deserialize" in info.value.user_message


# ----- 424 / 5xx: bounded retries ------------------------------------------------------


async def test_424_generation_error_is_retried_once(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=424)
    with pytest.raises(UpstreamServerError):
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert len(generation_requests(hf_server)) == 2


async def test_500_json_is_retried_then_succeeds(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=500, times=2, body={"error": "CUDA error"})
    waits = WaitLog()
    assert await hf_client.generate(make_model(hf_server.url), "x", P, on_wait=waits)
    assert [w.kind for w in waits] == ["retrying", "retrying"]


async def test_500_json_gives_up_after_bounded_retries(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=500, body={"error": "CUDA error"})
    with pytest.raises(UpstreamServerError):
        await hf_client.generate(make_model(hf_server.url), "x", P)
    assert len(generation_requests(hf_server)) == 1 + hf_client.policy.server_error_retries


# ----- errors inside a 200 stream ---------------------------------------------------------


async def test_tgi_stream_error_event_after_tokens_raises_after_the_text(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script("one two three", error_event="Request failed during generation: OOM",
                     error_type="generation", error_after_tokens=2)
    received: list[str] = []
    with pytest.raises(UpstreamServerError) as info:
        async for piece in hf_client.stream_generate(make_model(hf_server.url), "x", P):
            received.append(piece)
    assert received == ["one", " two"]
    assert "OOM" in info.value.user_message
    assert len(generation_requests(hf_server)) == 1  # never retried once text was shown


async def test_tgi_stream_validation_error_before_tokens(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(error_event="Input validation error: `inputs` tokens + `max_new_tokens` "
                     "must be <= 10. Given: 30 `inputs` tokens and 5 `max_new_tokens`",
                     error_after_tokens=0, times=5)
    with pytest.raises(InputTooLongError):
        await collect(hf_client.stream_generate(make_model(hf_server.url), "x", P))


async def test_openai_stream_error_event(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script("alpha beta", error_event="Model is overloaded", error_type="overloaded",
                     error_after_tokens=1)
    model = make_model(hf_server.url, provider="openai", model="m")
    received: list[str] = []
    with pytest.raises(OverloadedError):
        async for piece in hf_client.stream_chat(model, MESSAGES, P):
            received.append(piece)
    assert received == ["alpha"]


async def test_mid_stream_disconnect_raises_after_partial_text(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script("one two three four", disconnect_after_tokens=2)
    received: list[str] = []
    with pytest.raises(UpstreamServerError):
        async for piece in hf_client.stream_generate(make_model(hf_server.url), "x", P):
            received.append(piece)
    assert received == ["one", " two"]


# ----- transport ------------------------------------------------------------------------


async def test_read_timeout_is_upstream_timeout(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(delay_s=2)
    model = make_model(hf_server.url, requestOptions={"timeout": 0.2})
    started = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as info:
        await hf_client.generate(model, "x", P)
    assert time.monotonic() - started < 1.5
    assert "0.2 s" in info.value.user_message


async def test_connection_refused_is_connect_error(hf_client: InferenceClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = make_model(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectError) as info:
        await hf_client.generate(model, "x", P)
    assert f"127.0.0.1:{port}" in info.value.user_message


async def test_detection_waits_for_a_waking_endpoint(
    hf_server: HFTestServer, hf_client: InferenceClient, via_proxy: Any
) -> None:
    hf_server.script(status=503, body="", times=2, match_path="/info")
    waits = WaitLog()
    model = make_model(ENDPOINT_URL, provider="huggingfaceinferenceapi")
    assert await hf_client.generate(model, "x", P, on_wait=waits) == "return a + b"
    assert [w.kind for w in waits] == ["waking", "waking"]
    assert hf_server.paths()[-1] == "/generate"  # detected as TGI after waking


async def test_detection_does_not_cache_an_auth_failure(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    hf_server.script(status=401, times=1, match_path="/info")
    model = make_model(hf_server.url, provider="huggingfaceinferenceapi")
    with pytest.raises(AuthError):
        await hf_client.generate(model, "x", P)
    assert await hf_client.generate(model, "x", P) == "return a + b"


async def test_unusable_model_is_refused_without_a_request(
    hf_server: HFTestServer, hf_client: InferenceClient
) -> None:
    model = make_model(hf_server.url).model_copy(
        update={"unusable": "model 'test-model' is disabled: environment variable ${X} is not set"}
    )
    with pytest.raises(BadRequestError) as info:
        await hf_client.generate(model, "x", P)
    assert "${X}" in info.value.user_message
    assert hf_server.requests == []
