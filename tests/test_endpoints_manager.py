"""EndpointManager and Warmer against the loopback Endpoints emulation: the resume
prompt, waking, automatic vs invoked requests, idle pause, warm-up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bytebuddy_ls.config.schema import ModelConfig
from bytebuddy_ls.endpoints import (
    EndpointFailedError,
    EndpointManager,
    EndpointPausedError,
    EndpointsAPI,
    Warmer,
)
from bytebuddy_ls.endpoints.api import EndpointInfo
from bytebuddy_ls.inference import (
    ConnectError,
    GenerationParams,
    InferenceClient,
    ModelLoadingError,
    RetryPolicy,
    WaitEvent,
)
from tests.endpoints_server import DEFAULT_NAMESPACE, EndpointsEmulator
from tests.hf_server import HFTestServer

NS = DEFAULT_NAMESPACE


class FakeUI:
    def __init__(self, answer: bool = True, delay: float = 0.0, progress: bool = True) -> None:
        self.answer = answer
        self.delay = delay
        self.shows_progress = progress
        self.asked: list[str] = []
        self.changes: list[str] = []
        self.progress: list[str] = []

    async def ask_resume(self, model: ModelConfig, info: EndpointInfo) -> bool:
        self.asked.append(info.name)
        await asyncio.sleep(self.delay)
        return self.answer

    def background_progress(self, title: str) -> Any:
        if not self.shows_progress:
            return None
        ui = self
        ui.progress.append(f"begin {title}")

        class Progress:
            def report(self, message: str) -> None:
                ui.progress.append(message)

            def end(self, message: str | None = None) -> None:
                ui.progress.append(f"end {message}")

        return Progress()

    def changed(self, model: str) -> None:
        self.changes.append(model)


def endpoint_model(name: str = "coder", endpoint: str = "my-coder", **extra: Any) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": name, "provider": "huggingfaceinferenceapi", "model": "bigcode/starcoder2-3b",
        "apiKey": "hf_test_token_abcdefghijklmnop", "roles": ["autocomplete", "chat"],
        "endpoint": {"name": endpoint, "namespace": NS}, **extra,
    })


@pytest.fixture
async def emulator(hf_server: HFTestServer) -> AsyncIterator[EndpointsEmulator]:
    yield EndpointsEmulator(hf_server)


def make_manager(emulator: EndpointsEmulator, ui: FakeUI | None) -> EndpointManager:
    manager = EndpointManager(
        ui=ui,
        api_factory=lambda _m: EndpointsAPI("hf_test", base_url=emulator.api_url,
                                            hub=emulator.server.url),
        poll_s=0.03,
        wait_timeout_s=5.0,
    )
    return manager


async def test_running_endpoint_resolves_to_its_url_and_is_cached(
    emulator: EndpointsEmulator,
) -> None:
    emulator.add("my-coder")
    manager = make_manager(emulator, FakeUI())
    model = endpoint_model()
    manager.configure([model])
    first = await manager.prepare(model)
    second = await manager.prepare(model)
    assert first.apiBase == second.apiBase == emulator.endpoint_url("my-coder")
    assert emulator.verbs() == ["GET my-coder"]  # the second came from the cache
    assert manager.view("coder") == {
        "name": "my-coder", "namespace": NS, "state": "running",
        "url": emulator.endpoint_url("my-coder"),
    }
    # A failed request makes the next one ask again.
    manager.observe(first, ConnectError("refused", model="coder"))
    await manager.prepare(model)
    assert emulator.verbs() == ["GET my-coder", "GET my-coder"]


@pytest.mark.parametrize("progress", [True, False])
async def test_paused_invoked_asks_then_resumes_and_proceeds(
    emulator: EndpointsEmulator, progress: bool
) -> None:
    emulator.add("my-coder", state="paused", init_s=0.2)
    ui = FakeUI(answer=True, progress=progress)
    manager = make_manager(emulator, ui)
    model = endpoint_model()
    manager.configure([model])
    events: list[WaitEvent] = []
    resolved = await manager.prepare(model, events.append)
    assert ui.asked == ["my-coder"]
    assert resolved.apiBase == emulator.endpoint_url("my-coder")
    assert emulator.get("my-coder").state == "running"
    assert "POST my-coder/resume" in emulator.verbs()
    # The resume's own progress when the editor has one, else the request's.
    messages = ui.progress if progress else [e.message for e in events]
    assert any("Resuming" in m for m in messages), messages
    assert any("initializing" in m for m in messages), messages
    assert all(e.kind == "waking" for e in events)
    if progress:
        assert ui.progress[-1] == "end Endpoint 'my-coder' is running"
        assert events == []


async def test_not_now_never_resumes(emulator: EndpointsEmulator) -> None:
    emulator.add("my-coder", state="paused")
    ui = FakeUI(answer=False)
    manager = make_manager(emulator, ui)
    model = endpoint_model()
    manager.configure([model])
    with pytest.raises(EndpointPausedError) as caught:
        await manager.prepare(model)
    assert "paused" in caught.value.user_message
    assert "endpoint resume my-coder" in caught.value.user_message
    # Automatic requests after "Not now" neither ask nor resume.
    with pytest.raises(EndpointPausedError):
        await manager.prepare(model, automatic=True)
    await asyncio.sleep(0.05)
    assert ui.asked == ["my-coder"]
    assert not any("resume" in v for v in emulator.verbs())
    assert emulator.get("my-coder").state == "paused"


async def test_automatic_request_on_paused_endpoint_does_not_wait_for_the_answer(
    emulator: EndpointsEmulator,
) -> None:
    emulator.add("my-coder", state="paused", init_s=0.1)
    ui = FakeUI(answer=True, delay=1.5)
    manager = make_manager(emulator, ui)
    model = endpoint_model()
    manager.configure([model])
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EndpointPausedError):
        await manager.prepare(model, automatic=True)
    assert loop.time() - started < 1.0  # answered before the user did
    # A second automatic request joins the open prompt instead of asking again.
    with pytest.raises(EndpointPausedError):
        await manager.prepare(model, automatic=True)
    for _ in range(300):
        if ui.progress and ui.progress[-1].startswith("end"):
            break
        await asyncio.sleep(0.03)
    assert ui.asked == ["my-coder"]
    assert emulator.get("my-coder").state == "running"
    assert ui.progress[0] == "begin Resuming endpoint my-coder"
    assert ui.progress[-1] == "end Endpoint 'my-coder' is running"
    assert (await manager.prepare(model)).apiBase == emulator.endpoint_url("my-coder")


async def test_without_a_ui_a_paused_endpoint_is_an_error(emulator: EndpointsEmulator) -> None:
    emulator.add("my-coder", state="paused")
    manager = make_manager(emulator, None)
    with pytest.raises(EndpointPausedError):
        await manager.prepare(endpoint_model())
    assert emulator.get("my-coder").state == "paused"


async def test_scaled_to_zero_invoked_holds_automatic_does_not(
    emulator: EndpointsEmulator,
) -> None:
    emulator.add("my-coder", state="scaledToZero")
    manager = make_manager(emulator, FakeUI())
    model = endpoint_model()
    manager.configure([model])
    quick = await manager.prepare(model, automatic=True)
    assert "X-Scale-Up-Timeout" not in quick.requestOptions.headers
    events: list[WaitEvent] = []
    held = await manager.prepare(model, events.append)
    assert held.apiBase == emulator.endpoint_url("my-coder")
    assert int(held.requestOptions.headers["X-Scale-Up-Timeout"]) >= 1
    assert held.requestOptions.timeout > model.requestOptions.timeout
    assert events and "waking" in events[0].message


async def test_initializing_automatic_fails_fast_invoked_waits(
    emulator: EndpointsEmulator,
) -> None:
    emulator.add("my-coder", state="paused", init_s=0.25)
    await_api = EndpointsAPI(None, base_url=emulator.api_url)
    await await_api.resume(NS, "my-coder")
    await await_api.aclose()
    manager = make_manager(emulator, FakeUI())
    model = endpoint_model()
    manager.configure([model])
    with pytest.raises(ModelLoadingError) as caught:
        await manager.prepare(model, automatic=True)
    assert caught.value.waking and "initializing" in caught.value.user_message
    resolved = await manager.prepare(model)
    assert resolved.apiBase == emulator.endpoint_url("my-coder")


async def test_failed_endpoint_says_so(emulator: EndpointsEmulator) -> None:
    emulator.add("my-coder", state="failed")
    manager = make_manager(emulator, FakeUI())
    with pytest.raises(EndpointFailedError) as caught:
        await manager.prepare(endpoint_model())
    assert "failed" in caught.value.user_message and "logs" in caught.value.user_message


async def test_api_failure_falls_back_to_a_configured_api_base(hf_server: HFTestServer) -> None:
    manager = EndpointManager(
        api_factory=lambda _m: EndpointsAPI("hf_x", base_url="http://127.0.0.1:9/v2"),
        poll_s=0.03,
    )
    with_base = endpoint_model(apiBase=hf_server.url)
    assert (await manager.prepare(with_base)).apiBase == hf_server.url
    without = endpoint_model(name="other")
    with pytest.raises(ConnectError) as caught:
        await manager.prepare(without)
    assert "127.0.0.1:9" in caught.value.user_message
    assert manager.view("other") is not None


async def test_idle_endpoint_is_paused_only_from_the_users_config(
    emulator: EndpointsEmulator,
) -> None:
    emulator.add("my-coder")
    ui = FakeUI()
    manager = make_manager(emulator, ui)
    model = endpoint_model(idlePauseMinutes=0.001)  # 60 ms
    manager.configure([model], restricted=True)
    resolved = await manager.prepare(model)
    manager.observe(resolved, None)
    await asyncio.sleep(0.1)
    assert await manager.pause_idle() == []  # a workspace config may not pause it
    manager.configure([model], restricted=False)
    assert await manager.pause_idle() == ["coder"]
    assert emulator.get("my-coder").state == "paused"
    view = manager.view("coder")
    assert view is not None and view["state"] == "paused" and view["autoPaused"] is True
    assert view["idlePauseMinutes"] == 0.0


async def test_warm_up_sends_one_request_and_not_again_while_warm(
    emulator: EndpointsEmulator, hf_server: HFTestServer
) -> None:
    emulator.add("my-coder", state="scaledToZero", cold_start_s=0.3)
    manager = make_manager(emulator, FakeUI())
    model = endpoint_model(warmup="onOpen")
    manager.configure([model])
    client = InferenceClient(policy=RetryPolicy().scaled(0.01))

    async def call(m: ModelConfig, on_wait: Any) -> str:
        ready = await manager.prepare(m, on_wait)
        text = await client.generate(ready, "def", GenerationParams(max_tokens=1),
                                     on_wait=on_wait)
        manager.observe(ready, None)
        return text

    warmer = Warmer(call, manager)
    warmer.configure([model])
    try:
        assert warmer.on_open("plaintext") == []
        assert warmer.on_open("python") == ["coder"]
        assert warmer.on_open("python") == []  # only the first document
        await asyncio.wait_for(warmer._tasks["coder"], 5)
        generation = [r for r in hf_server.requests
                      if r.method == "POST" and r.path.startswith("/endpoints/")]
        assert len(generation) == 1, [r.path for r in generation]
        assert generation[0].headers.get("X-Scale-Up-Timeout")
        assert generation[0].json["parameters"]["max_new_tokens"] == 1
        assert emulator.get("my-coder").state == "running"
        assert warmer.is_warm(model)
        assert warmer.on_startup() == []  # warm: not repeated
        assert warmer.sent == {"coder": 1}
    finally:
        await client.aclose()
        await manager.aclose()


async def test_warm_up_skips_a_paused_endpoint(emulator: EndpointsEmulator) -> None:
    emulator.add("my-coder", state="paused")
    ui = FakeUI()
    manager = make_manager(emulator, ui)
    model = endpoint_model(warmup="onStartup")
    calls: list[str] = []

    async def call(m: ModelConfig, on_wait: Any) -> None:
        calls.append(m.name)

    warmer = Warmer(call, manager)
    warmer.configure([model])
    assert warmer.on_startup() == ["coder"]
    assert await warmer._tasks["coder"] is False
    assert calls == [] and ui.asked == []


async def test_warm_up_is_bounded_and_cancellable(emulator: EndpointsEmulator) -> None:
    emulator.add("my-coder")
    manager = make_manager(emulator, FakeUI())
    model = endpoint_model(warmup="onStartup")

    async def hang(m: ModelConfig, on_wait: Any) -> None:
        await asyncio.sleep(30)

    warmer = Warmer(hang, manager, timeout_s=0.1)
    warmer.configure([model])
    assert warmer.on_startup() == ["coder"]
    assert await warmer._tasks["coder"] is False  # gave up at the bound
    warmer.timeout_s = 30
    assert warmer.on_startup() == ["coder"]
    task = warmer._tasks["coder"]
    await asyncio.sleep(0.02)
    warmer.cancel_all()
    with pytest.raises(asyncio.CancelledError):
        await task
