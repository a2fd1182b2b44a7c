"""Inference Endpoints through the real server: state in status and models, the resume
prompt, waking from zero, warm-up — against the loopback Endpoints emulation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from .endpoints_server import DEFAULT_NAMESPACE, EndpointsEmulator
from .hf_server import HFTestServer
from .lsp_harness import Session, _as_dict, inline_capabilities, running_server

URI = "file:///work/demo.py"
TEXT = "def add(a, b):\n    \n"
QUESTION = "Endpoint my-coder is paused. Resume? (it bills while running)"


@pytest.fixture
async def emulator(hf_server: HFTestServer) -> AsyncIterator[EndpointsEmulator]:
    yield EndpointsEmulator(hf_server)


def config(**extra: Any) -> dict[str, Any]:
    return {"models": [{
        "name": "coder", "provider": "huggingfaceinferenceapi",
        "model": "bigcode/starcoder2-3b", "apiKey": "hf_test_key_0123456789abcdef",
        "roles": ["autocomplete", "chat"],
        "endpoint": {"name": "my-coder", "namespace": DEFAULT_NAMESPACE}, **extra,
    }]}


@asynccontextmanager
async def session_for(
    emulator: EndpointsEmulator, tmp_path: Path, *, answers: list[str | None] | None = None,
    **extra: Any,
) -> AsyncIterator[tuple[Session, list[types.ShowMessageRequestParams]]]:
    asked: list[types.ShowMessageRequestParams] = []
    queue = list(answers or [])
    env = {"BYTEBUDDY_ENDPOINTS_API_URL": emulator.api_url, "HF_ENDPOINT": emulator.server.url,
           "BYTEBUDDY_RETRY_SCALE": "0.02"}

    async def answer(params: types.ShowMessageRequestParams) -> str | None:
        asked.append(params)
        await asyncio.sleep(0.1)  # a person reading the question
        return queue.pop(0) if queue else None

    async with running_server(cwd=tmp_path, env=env, init_options={"config": config(**extra)},
                              capabilities=inline_capabilities(), message_answer=answer) as session:
        yield session, asked


@asynccontextmanager
async def scaled_to_zero(
    emulator: EndpointsEmulator, tmp_path: Path, cold_start_s: float, **extra: Any
) -> AsyncIterator[tuple[Session, list[types.ShowMessageRequestParams]]]:
    """``session_for`` an endpoint scaled to zero (``cold_start_s`` to start a replica),
    once the server's status shows it so."""
    emulator.add("my-coder", state="scaledToZero", cold_start_s=cold_start_s)
    async with session_for(emulator, tmp_path, **extra) as (session, asked):
        await session.wait_for(lambda: "scaledToZero" in endpoint_states(session), what="zero")
        yield session, asked


def endpoint_states(session: Session) -> list[str]:
    states = [s["endpoint"]["state"] for s in session.statuses if s.get("endpoint")]
    return [s for i, s in enumerate(states) if i == 0 or states[i - 1] != s]


def progress_messages(session: Session) -> list[str]:
    out = []
    for reports in session.client.progress_reports.values():
        for value in reports:
            message = getattr(value, "message", None)
            if message:
                out.append(message)
    return out


async def test_paused_endpoint_shown_then_resumed_with_one_click(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    emulator.add("my-coder", state="paused", init_s=0.6)
    hf_server.script(reply="return a + b")
    async with session_for(emulator, tmp_path, answers=["Resume"]) as (session, asked):
        await session.wait_for(lambda: "paused" in endpoint_states(session), what="paused")
        rows = await session.client.protocol.send_request_async("bytebuddy/models", None)
        endpoint = _as_dict(rows[0])["endpoint"]
        assert endpoint["state"] == "paused" and endpoint["name"] == "my-coder"
        assert not any(v.endswith("/resume") for v in emulator.verbs())  # not before the click

        session.open(URI, TEXT)
        result = await session.inline(URI, 1, 4, invoked=True)
        assert result is not None and [i.insert_text for i in result.items] == ["return a + b"]
        (question,) = asked
        assert question.message == QUESTION
        assert [a.title for a in question.actions or []] == ["Resume", "Not now"]
        assert emulator.verbs().count("POST my-coder/resume") == 1
        assert emulator.get("my-coder").state == "running"
        messages = progress_messages(session)
        assert any("Resuming endpoint 'my-coder'" in m for m in messages), messages
        assert any("initializing" in m for m in messages), messages
        await session.wait_for(lambda: endpoint_states(session)[-1:] == ["running"],
                               what="running status")
        assert endpoint_states(session) == ["paused", "initializing", "running"]


async def test_not_now_never_resumes(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    emulator.add("my-coder", state="paused")
    async with session_for(emulator, tmp_path, answers=["Not now", "Not now"]) as (
        session, asked,
    ):
        session.open(URI, TEXT)
        result = await session.inline(URI, 1, 4, invoked=True)
        assert result is not None and len(result.items) == 0
        assert len(asked) == 1
        # Automatic requests after "Not now" stay quiet: no second question.
        for _ in range(3):
            quiet = await session.inline(URI, 1, 4, invoked=False)
            assert quiet is not None and len(quiet.items) == 0
        assert len(asked) == 1
        # An explicit request asks again.
        with pytest.raises(Exception, match="paused"):
            await session.client.protocol.send_request_async(
                "bytebuddy/chat", {"messages": [{"role": "user", "content": "hi"}]}
            )
        assert len(asked) == 2
        status = session.statuses[-1]
        assert status["state"] == "error" and "paused" in status["message"]
        assert status["endpoint"]["state"] == "paused"
    assert not any(v.endswith("/resume") for v in emulator.verbs())
    assert emulator.get("my-coder").state == "paused"
    assert not [r for r in hf_server.requests if r.path.startswith("/endpoints/")]


async def empty_at_once(session: Session, within_s: float) -> None:
    """Open the file and ask while typing: an empty answer within ``within_s`` (not held
    while the endpoint gets ready)."""
    session.open(URI, TEXT)
    started = time.monotonic()
    result = await session.inline(URI, 1, 4, invoked=False)
    assert result is not None and len(result.items) == 0
    assert time.monotonic() - started < within_s


async def suggests_once_running(session: Session) -> None:
    """Once the status shows the endpoint running, typing gets the suggestion."""
    await session.wait_for(lambda: endpoint_states(session)[-1:] == ["running"], 10,
                           "running status")
    later = await session.inline(URI, 1, 4, invoked=False)
    assert later is not None and [i.insert_text for i in later.items] == ["return a + b"]


async def test_automatic_request_prompts_without_waiting_and_resume_follows(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    emulator.add("my-coder", state="paused", init_s=0.3)
    hf_server.script(reply="return a + b")
    async with session_for(emulator, tmp_path, answers=["Resume"]) as (session, asked):
        await empty_at_once(session, within_s=2.0)
        await session.wait_for(lambda: emulator.get("my-coder").state == "running", 10,
                               "resumed")
        await suggests_once_running(session)
        assert len(asked) == 1


async def test_scaled_to_zero_automatic_is_empty_while_waking(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.script(reply="return a + b")
    async with scaled_to_zero(emulator, tmp_path, cold_start_s=1.0) as (session, asked):
        await empty_at_once(session, within_s=1.0)  # not held for the cold start
        await session.wait_for_status("loading")
        await suggests_once_running(session)
        assert "initializing" in endpoint_states(session)
        assert asked == []


async def test_scaled_to_zero_invoked_waits_with_progress_in_one_request(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.script(reply="return a + b")
    async with scaled_to_zero(emulator, tmp_path, cold_start_s=0.8) as (session, _):
        session.open(URI, TEXT)
        result = await session.inline(URI, 1, 4, invoked=True)
        assert result is not None and [i.insert_text for i in result.items] == ["return a + b"]
        posts = [r for r in hf_server.requests
                 if r.method == "POST" and r.path.startswith("/endpoints/")]
        assert len(posts) == 1 and posts[0].headers.get("X-Scale-Up-Timeout")
        assert any("waking" in m for m in progress_messages(session))


async def warm_start(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path, warmup: str
) -> tuple[float, list[Any], int]:
    """Open a file, let the user read for a moment, then ask for completions until one
    comes: (seconds from the first request to a suggestion, empty answers, POSTs)."""
    hf_server.script(reply="return a + b")
    async with scaled_to_zero(emulator, tmp_path, cold_start_s=1.5, warmup=warmup) as (session, _):
        session.open(URI, TEXT)
        # The user reads the file before typing: long enough for a warm-up to finish.
        if warmup == "off":
            await asyncio.sleep(2.0)
        else:
            # The warm-up's end, not the endpoint's "running" status: the endpoint can report
            # running a moment before the warm-up's own request goes out.
            await session.wait_for(
                lambda: "coder is warm" in progress_messages(session)
                and endpoint_states(session)[-1:] == ["running"], 20, "the warm-up",
            )
        warm_posts = len([r for r in hf_server.requests if r.method == "POST"])
        started = time.monotonic()
        empties: list[Any] = []
        while True:
            result = await session.inline(URI, 1, 4, invoked=False)
            if result is not None and result.items:
                break
            empties.append(result)
            await asyncio.sleep(0.1)
        return time.monotonic() - started, empties, warm_posts


async def test_warm_up_on_open_hides_the_cold_start(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    waited, empties, warm_posts = await warm_start(emulator, hf_server, tmp_path, "onOpen")
    assert warm_posts == 1  # exactly one warm-up request
    warm = next(r for r in hf_server.requests if r.method == "POST")
    assert warm.json["parameters"]["max_new_tokens"] == 1
    assert empties == []  # the first completion is a suggestion
    assert waited < 1.5  # below the cold start it would otherwise wait for


async def test_without_warm_up_the_first_completion_pays_the_cold_start(
    emulator: EndpointsEmulator, hf_server: HFTestServer, tmp_path: Path
) -> None:
    waited, empties, warm_posts = await warm_start(emulator, hf_server, tmp_path, "off")
    assert warm_posts == 0
    assert empties and waited >= 1.0
