"""``bytebuddy/chat`` end to end: context, streaming as ``$/progress``, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from .ai_support import (
    Env,
    ai_session,
    chat_requests,
    file_uri,
    record_partial_results,
)
from .hf_server import HFTestServer
from .lsp_harness import Session

pytestmark = pytest.mark.asyncio(loop_scope="module")

# A second model with a small window, to see the history trimmed.
SMALL_MODEL = (
    "  - name: small\n"
    "    provider: openai\n"
    "    model: test-small\n"
    "    apiBase: {url}/v1\n"
    "    apiKey: test-key\n"
    "    roles: [chat]\n"
    "    defaultCompletionOptions: {{contextLength: 700, maxTokens: 100}}\n"
)
SOURCE = "import os\n\n\ndef home():\n    return os.environ['HOME']\n\n\nprint(home())\n"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hf() -> AsyncIterator[HFTestServer]:
    async with HFTestServer() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    hf: HFTestServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Env, dict[Any, list[Any]]]]:
    root = tmp_path_factory.mktemp("chat")
    async with ai_session(
        root,
        hf,
        extra=SMALL_MODEL.format(url=hf.url),
        env={"BYTEBUDDY_RETRY_SCALE": "0.02"},  # model-loading polls in milliseconds
    ) as session:
        yield Env(hf, session, root), record_partial_results(session)


@pytest_asyncio.fixture(loop_scope="module")
async def env(shared: tuple[Env, dict[Any, list[Any]]]) -> Env:
    shared[0].reset()
    shared[1].clear()
    return shared[0]


@pytest_asyncio.fixture(loop_scope="module")
async def partials(shared: tuple[Env, dict[Any, list[Any]]]) -> dict[Any, list[Any]]:
    return shared[1]


def as_dict(value: Any) -> Any:
    """pygls gives results of custom requests as namedtuples."""
    if hasattr(value, "_asdict"):
        return {k: as_dict(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [as_dict(v) for v in value]
    return value


async def chat(session: Session, params: dict[str, Any], msg_id: str | None = None) -> Any:
    result = await session.client.protocol.send_request_async("bytebuddy/chat", params, msg_id)
    return as_dict(result)


def ask(question: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}], **extra}


async def test_chat_answers_with_the_document_as_context(env: Env) -> None:
    session, hf = env.session, env.hf
    path = env.root / "paths.py"
    path.write_text(SOURCE)
    uri = file_uri(path)
    session.open(uri, SOURCE)
    hf.script("It returns the home directory.")
    selection = {"start": {"line": 3, "character": 0}, "end": {"line": 5, "character": 0}}
    result = await chat(
        session, ask("What does this do?", textDocument={"uri": uri}, range=selection)
    )
    assert result == {"content": "It returns the home directory.", "model": "chat"}
    [request] = chat_requests(hf)
    assert request["model"] == "test-chat" and not request.get("stream")
    system, user = request["messages"]
    assert system["role"] == "system" and "ByteBuddy" in system["content"]
    assert user["role"] == "user"
    assert "paths.py" in user["content"] and "(python)" in user["content"]
    assert "Selected lines 4-5" in user["content"]
    assert "def home():\n    return os.environ['HOME']\n" in user["content"]
    assert user["content"].endswith("What does this do?")


async def test_chat_streams_deltas_as_progress(env: Env, partials: dict[Any, list[Any]]) -> None:
    reply = "The answer is forty two, as everyone knows by now."
    env.hf.script(reply, token_delay_s=0.01)
    result = await chat(env.session, ask("Meaning of life?", partialResultToken="tok-1"))
    assert result == {"content": reply, "model": "chat"}
    deltas = [value["delta"] for value in partials["tok-1"]]
    assert len(deltas) >= 2
    assert "".join(deltas) == reply
    [request] = chat_requests(env.hf)
    assert request["stream"] is True


async def test_chat_answer_starts_without_blank_lines(
    env: Env, partials: dict[Any, list[Any]]
) -> None:
    # A llama.cpp server starts chat answers with a newline; nobody wants it shown.
    env.hf.script("\n\nIt is forty two.", token_delay_s=0.01, times=1)
    result = await chat(env.session, ask("Meaning of life?", partialResultToken="tok-nl"))
    assert result["content"] == "It is forty two."
    assert "".join(value["delta"] for value in partials["tok-nl"]) == "It is forty two."
    env.hf.script("\n    x = 1\n", times=1)  # code keeps its indentation
    result = await chat(env.session, ask("Show me."))
    assert result["content"] == "    x = 1\n"


async def test_chat_says_busy_before_the_first_delta(env: Env) -> None:
    features = env.session.client.protocol.fm.features
    inner = features[types.PROGRESS]
    seen_at_first_delta: list[list[str]] = []
    before = len(env.session.statuses)

    def spy(params: types.ProgressParams) -> Any:
        value = params.value
        if not seen_at_first_delta and isinstance(value, dict) and "delta" in value:
            seen_at_first_delta.append([s["state"] for s in env.session.statuses[before:]])
        return inner(params)

    features[types.PROGRESS] = spy
    try:
        env.hf.script("Quick answer in a few words.", token_delay_s=0.005, times=1)
        await chat(env.session, ask("Quick?", partialResultToken="tok-busy"))
    finally:
        features[types.PROGRESS] = inner
    assert seen_at_first_delta == [["busy"]]
    await env.session.wait_for(
        lambda: env.session.statuses[-1]["state"] == "ready", what="ready again"
    )


async def test_chat_cancellation_closes_the_upstream_stream(
    env: Env, partials: dict[Any, list[Any]]
) -> None:
    env.hf.script("word " * 200, token_delay_s=0.05)
    pending = asyncio.ensure_future(
        chat(env.session, ask("Talk a lot", partialResultToken="tok-cancel"), "chat-cancel-1")
    )
    await env.session.wait_for(lambda: bool(partials.get("tok-cancel")), what="first delta")
    env.session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="chat-cancel-1"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(pending, 5)
    assert await env.hf.wait_for_disconnect(timeout=5)
    received = len(partials["tok-cancel"])
    await asyncio.sleep(0.2)
    assert len(partials["tok-cancel"]) == received < 200  # nothing after the cancel
    await env.session.wait_for(
        lambda: env.session.statuses[-1]["state"] == "ready", what="ready again"
    )


async def test_chat_waits_for_a_loading_model_with_progress(
    env: Env, partials: dict[Any, list[Any]]
) -> None:
    loading = {"error": "Model test-chat is currently loading", "estimated_time": 0.05}
    env.hf.script(status=503, body=loading, times=1)
    env.hf.script("Ready now.")
    before = set(env.session.client.progress_reports)
    statuses = len(env.session.statuses)
    result = await chat(env.session, ask("Are you there?", partialResultToken="tok-load"))
    assert result == {"content": "Ready now.", "model": "chat"}
    assert "".join(v["delta"] for v in partials["tok-load"]) == "Ready now."
    assert any(s["state"] == "loading" for s in env.session.statuses[statuses:])
    [token] = set(env.session.client.progress_reports) - before
    kinds = [type(report).__name__ for report in env.session.client.progress_reports[token]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    assert len(chat_requests(env.hf)) == 2


async def test_chat_trims_history_to_the_model_window(env: Env) -> None:
    env.hf.script("ok")
    history: list[dict[str, str]] = []
    for index in range(12):
        history.append({"role": "user", "content": f"question {index}: " + "x" * 200})
        history.append({"role": "assistant", "content": f"answer {index}: " + "y" * 200})
    history.append({"role": "user", "content": "the latest question"})
    result = await chat(env.session, {"messages": history, "model": "small"})
    assert result["model"] == "small"
    [request] = chat_requests(env.hf)
    sent = [m["content"] for m in request["messages"]]
    assert request["model"] == "test-small"
    assert sent[-1] == "the latest question"
    assert not any(text.startswith("question 0:") for text in sent)
    assert request["messages"][1]["role"] == "user"  # kept history starts with a user turn
    assert len(sent) < len(history)


async def test_chat_system_prompt_comes_from_the_settings(env: Env) -> None:
    client = env.session.client
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"bytebuddy": {"chat": {"systemPrompt": "Answer like a pirate."}}}
        )
    )
    try:
        env.hf.script("Arr.")
        await chat(env.session, ask("Hello?"))
        [request] = chat_requests(env.hf)
        assert request["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    finally:
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"bytebuddy": {"chat": {"systemPrompt": None}}}
            )
        )


async def test_chat_bad_requests_are_answered_with_errors(env: Env) -> None:
    with pytest.raises(JsonRpcException, match="messages"):
        await chat(env.session, {"textDocument": {"uri": "file:///x.py"}})
    with pytest.raises(JsonRpcException, match="no user message"):
        await chat(env.session, {"messages": [{"role": "system", "content": "hi"}]})
    with pytest.raises(JsonRpcException, match="no model named 'nope'"):
        await chat(env.session, ask("hi", model="nope"))
    assert env.hf.requests == []


async def test_chat_upstream_failure_is_an_error_and_one_message(
    hf: HFTestServer, tmp_path: Path
) -> None:
    hf.reset()
    hf.script(status=401)
    async with ai_session(tmp_path, hf) as session:
        for token in ("a", "b"):
            with pytest.raises(JsonRpcException, match="token"):
                await chat(session, ask("hi", partialResultToken=token))
        await session.wait_for(lambda: bool(session.client.messages), what="a message")
        assert len([m for m in session.client.messages if "token" in m.message]) == 1
        await session.wait_for_status("error")
