"""The Inference Endpoints management API client, against the loopback emulation, with
huggingface_hub (the ecosystem's own client) as the oracle for routes and JSON shapes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from huggingface_hub import HfApi, constants

from bytebuddy_ls.endpoints.api import EndpointInfo, EndpointsAPI, EndpointsAPIError
from tests.endpoints_server import DEFAULT_NAMESPACE, EndpointsEmulator
from tests.hf_server import HFTestServer

TOKEN = "hf_managementtoken0123456789abcdef"
NS = DEFAULT_NAMESPACE


@pytest.fixture
async def emulator(hf_server: HFTestServer) -> AsyncIterator[EndpointsEmulator]:
    yield EndpointsEmulator(hf_server, token=TOKEN)


@pytest.fixture
async def api(emulator: EndpointsEmulator) -> AsyncIterator[EndpointsAPI]:
    client = EndpointsAPI(TOKEN, base_url=emulator.api_url, hub=emulator.server.url)
    yield client
    await client.aclose()


@pytest.fixture
def hub(emulator: EndpointsEmulator, monkeypatch: pytest.MonkeyPatch) -> HfApi:
    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", emulator.api_url)
    return HfApi(endpoint=emulator.server.url, token=TOKEN)


async def test_same_routes_and_fields_as_huggingface_hub(
    emulator: EndpointsEmulator, api: EndpointsAPI, hub: HfApi
) -> None:
    emulator.add("my-coder", state="running", scale_to_zero_timeout_min=30)
    emulator.add("other", state="paused")

    def with_hub() -> list[tuple[str, str]]:
        found = hub.get_inference_endpoint("my-coder", namespace=NS)
        assert found.status == "running"
        assert found.url == emulator.endpoint_url("my-coder")
        assert found.repository == "bigcode/starcoder2-3b"
        listed = hub.list_inference_endpoints(namespace=NS)
        assert sorted(e.name for e in listed) == ["my-coder", "other"]
        assert hub.pause_inference_endpoint("my-coder", namespace=NS).status == "paused"
        assert hub.resume_inference_endpoint("my-coder", namespace=NS).status == "initializing"
        scaled = hub.scale_to_zero_inference_endpoint("my-coder", namespace=NS)
        assert scaled.status == "scaledToZero"
        return list(emulator.management_calls)

    hub_calls = await asyncio.to_thread(with_hub)
    emulator.management_calls.clear()
    emulator.get("my-coder").set("running")
    emulator.get("other").set("paused")

    found = await api.get(NS, "my-coder")
    assert (found.state, found.url, found.repository) == (
        "running", emulator.endpoint_url("my-coder"), "bigcode/starcoder2-3b"
    )
    assert found.scale_to_zero_timeout_min == 30 and found.min_replica == 0
    assert found.instance == "aws us-east-1 nvidia-l4 x1"
    listed = await api.list(NS)
    assert sorted(e.name for e in listed) == ["my-coder", "other"]
    assert (await api.pause(NS, "my-coder")).state == "paused"
    assert (await api.resume(NS, "my-coder")).state == "initializing"
    assert (await api.scale_to_zero(NS, "my-coder")).state == "scaledToZero"
    assert emulator.management_calls == hub_calls


async def test_hub_parses_every_state_the_emulation_serves(
    emulator: EndpointsEmulator, hub: HfApi
) -> None:
    states = ["pending", "initializing", "updating", "updateFailed", "running", "paused",
              "failed", "scaledToZero"]
    for index, state in enumerate(states):
        emulator.add(f"ep-{index}", state=state)

    def statuses() -> dict[str, str]:
        return {e.name: str(e.status.value if hasattr(e.status, "value") else e.status)
                for e in hub.list_inference_endpoints(namespace=NS)}

    seen = await asyncio.to_thread(statuses)
    assert seen == {f"ep-{i}": s for i, s in enumerate(states)}


async def test_resume_waits_through_initializing_to_running(
    emulator: EndpointsEmulator, api: EndpointsAPI
) -> None:
    emulator.add("my-coder", state="paused", init_s=0.3)
    paused = await api.get(NS, "my-coder")
    assert paused.state == "paused" and paused.url is None
    resumed = await api.resume(NS, "my-coder")
    assert resumed.state == "initializing"
    seen: list[str] = []
    started = time.monotonic()
    info = await api.wait(NS, "my-coder", timeout_s=5, interval_s=0.05,
                          on_state=lambda i: seen.append(i.state))
    assert info.running and info.url == emulator.endpoint_url("my-coder")
    assert seen == ["initializing", "running"]
    assert time.monotonic() - started >= 0.2
    # Resuming a running endpoint is not an error (huggingface_hub's running_ok=True).
    assert (await api.resume(NS, "my-coder")).state == "running"


async def test_wait_on_a_paused_endpoint_fails_at_once(
    emulator: EndpointsEmulator, api: EndpointsAPI
) -> None:
    emulator.add("my-coder", state="paused")
    with pytest.raises(EndpointsAPIError) as caught:
        await api.wait(NS, "my-coder", timeout_s=5, interval_s=0.05)
    assert caught.value.kind == "refused" and "resume" in caught.value.message


async def test_wait_times_out(emulator: EndpointsEmulator, api: EndpointsAPI) -> None:
    emulator.add("slow", state="paused", init_s=60)
    await api.resume(NS, "slow")
    with pytest.raises(EndpointsAPIError) as caught:
        await api.wait(NS, "slow", timeout_s=0.2, interval_s=0.05)
    assert caught.value.kind == "timeout" and "initializing" in caught.value.message


async def test_scaled_to_zero_answers_503_until_a_replica_runs(
    emulator: EndpointsEmulator, api: EndpointsAPI
) -> None:
    emulator.add("sleepy", state="scaledToZero", cold_start_s=0.3)
    url = emulator.endpoint_url("sleepy")
    async with httpx.AsyncClient() as http:
        first = await http.post(f"{url}/generate", json={"inputs": "x", "parameters": {}})
        assert first.status_code == 503 and first.content == b""
        assert (await api.get(NS, "sleepy")).state == "initializing"
        # The proxy holds a request that asks it to.
        held = await http.post(f"{url}/generate", json={"inputs": "x", "parameters": {}},
                               headers={"X-Scale-Up-Timeout": "5"})
        assert held.status_code == 200
    assert (await api.get(NS, "sleepy")).state == "running"


async def test_paused_endpoint_refuses_inference_and_does_not_wake(
    emulator: EndpointsEmulator, api: EndpointsAPI
) -> None:
    emulator.add("idle", state="paused")
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{emulator.endpoint_url('idle')}/generate",
                                 json={"inputs": "x", "parameters": {}})
    assert answer.status_code == 400 and "Invalid state" in answer.text
    assert (await api.get(NS, "idle")).state == "paused"


async def test_errors_are_actionable_and_never_carry_the_token(
    emulator: EndpointsEmulator,
) -> None:
    emulator.add("my-coder")
    wrong = EndpointsAPI("hf_wrongtoken0123456789abcdefgh", base_url=emulator.api_url)
    try:
        with pytest.raises(EndpointsAPIError) as caught:
            await wrong.get(NS, "my-coder")
    finally:
        await wrong.aclose()
    assert caught.value.kind == "auth" and caught.value.status == 401
    assert "hf_wrongtoken" not in caught.value.message
    good = EndpointsAPI(TOKEN, base_url=emulator.api_url)
    try:
        with pytest.raises(EndpointsAPIError) as missing:
            await good.get(NS, "nope")
        assert missing.value.kind == "not_found" and "namespace" in missing.value.message
    finally:
        await good.aclose()
    gone = EndpointsAPI(TOKEN, base_url="http://127.0.0.1:9/v2")
    try:
        with pytest.raises(EndpointsAPIError) as unreachable:
            await gone.get(NS, "my-coder")
        assert unreachable.value.kind == "unreachable"
    finally:
        await gone.aclose()


async def test_namespace_defaults_to_the_tokens_user(api: EndpointsAPI) -> None:
    assert await api.whoami() == NS


def test_unknown_shapes_are_errors_not_crashes() -> None:
    with pytest.raises(ValueError):
        EndpointInfo.from_json({"status": {"state": "running"}}, NS)
    with pytest.raises(ValueError):
        EndpointInfo.from_json({"name": "x", "status": "running"}, NS)
    info = EndpointInfo.from_json({"name": "x", "status": {"state": "someNewState"}}, NS)
    assert info.state == "someNewState" and not info.running
