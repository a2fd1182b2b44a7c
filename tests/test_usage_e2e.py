"""Every upstream call reaches the usage ledger, through the real server: each wire
protocol, streamed or not, with the server's token counts or estimated, cancelled calls,
cache hits, the router's prices, a blocking budget and the audit log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled

from .ai_support import record_partial_results
from .hf_server import HFTestServer, server_tokens, split_tokens
from .lsp_harness import Session, _as_dict, running_server
from .test_usage_pricing import PRICE_LIST

REPLY = "return a + b"
SOURCE = "def add(a, b):\n    "


def model(name: str, provider: str, url: str, roles: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "provider": provider, "model": f"org/{name}", "apiBase": url,
            "apiKey": "test-key", "roles": roles, **extra}


async def usage(session: Session, by: str = "model") -> dict[str, Any]:
    report = await session.client.protocol.send_request_async(
        "bytebuddy/usage", {"since": "1h", "by": by}
    )
    result: dict[str, Any] = _as_dict(report)
    return result


async def rows_when(session: Session, predicate: Any, by: str = "model") -> dict[str, Any]:
    """The report's rows by key once ``predicate(rows)`` holds (records land in batches)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        report = await usage(session, by)
        rows = {row["day"] if by == "day" else row[by]: row for row in report["rows"]}
        if predicate(rows):
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"usage never matched: {report}")
        await asyncio.sleep(0.1)


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"XDG_STATE_HOME": str(tmp_path / "state"), "BYTEBUDDY_RETRY_SCALE": "0.02"}


async def complete(session: Session, uri: str, line: int = 1, character: int = 4) -> Any:
    return await session.inline(uri, line, character)


async def chat(session: Session, question: str, **extra: Any) -> Any:
    params = {"messages": [{"role": "user", "content": question}], **extra}
    return await session.client.protocol.send_request_async("bytebuddy/chat", params)


def items(result: Any) -> list[Any]:
    return list(result.items if isinstance(result, types.InlineCompletionList) else result or [])


@pytest.fixture
async def started(
    tmp_path: Path, hf_server: HFTestServer, state: dict[str, str]
) -> AsyncIterator[Any]:
    sessions: list[Any] = []

    async def start(config: dict[str, Any], env: dict[str, str] | None = None) -> Session:
        manager = running_server(cwd=tmp_path, env={**state, **(env or {})},
                                 init_options={"config": config})
        session = await manager.__aenter__()
        sessions.append(manager)
        await session.wait_for_status("ready")
        return session

    yield start
    for manager in reversed(sessions):
        await manager.__aexit__(None, None, None)


async def test_tgi_autocomplete_reports_tokens_and_cache_hits(
    started: Any, hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.configure(engine="tgi")
    hf_server.script(REPLY)
    session = await started({"models": [model("fim", "huggingface-tgi", hf_server.url,
                                              ["autocomplete"])]})
    uri = (tmp_path / "a.py").as_uri()
    session.open(uri, SOURCE)
    assert items(await complete(session, uri))
    assert items(await complete(session, uri))  # the same request: from the cache
    generate = [r for r in hf_server.requests if r.path == "/generate"]
    assert len(generate) == 1
    rows = await rows_when(session, lambda r: "fim" in r and r["fim"]["cache_hits"] == 1)
    fim = rows["fim"]
    assert fim["requests"] == 1 and fim["provider"] == "tgi" and fim["role"] == "autocomplete"
    # The server's own counts (x-prompt-tokens / details), not an estimate.
    assert fim["estimated"] is False
    assert fim["prompt_tokens"] == server_tokens(generate[0].json["inputs"])
    assert fim["completion_tokens"] == len(split_tokens(REPLY))


async def test_an_answer_without_counts_is_estimated(
    started: Any, hf_server: HFTestServer, tmp_path: Path
) -> None:
    # An Endpoint on the inference toolkit (POST /) that sends no x-*-tokens headers.
    hf_server.configure(engine="toolkit")
    hf_server.script(match_path="/", body=[{"generated_text": REPLY}])
    session = await started({"models": [model("kit", "huggingfaceinferenceapi", hf_server.url,
                                              ["autocomplete"])]})
    uri = (tmp_path / "a.py").as_uri()
    session.open(uri, SOURCE)
    assert items(await complete(session, uri))
    assert [r.path for r in hf_server.requests if r.method == "POST"] == ["/"]
    rows = await rows_when(session, lambda r: "kit" in r)
    assert rows["kit"]["estimated"] is True and rows["kit"]["provider"] == "endpoint"
    assert rows["kit"]["prompt_tokens"] > 0 and rows["kit"]["completion_tokens"] > 0


@pytest.mark.parametrize("streamed", [False, True])
async def test_openai_chat_with_usage(
    started: Any, hf_server: HFTestServer, streamed: bool
) -> None:
    reply = "Use a list comprehension, it reads better."
    hf_server.script(reply, token_delay_s=0.01 if streamed else 0.0)
    session = await started({"models": [model("chat", "openai", hf_server.url + "/v1",
                                              ["chat", "edit", "apply"])]})
    extra = {"partialResultToken": "tok"} if streamed else {}
    if streamed:
        record_partial_results(session)
    answer = await chat(session, "How?", **extra)
    assert answer.content == reply
    [sent] = [r.json for r in hf_server.requests if r.path == "/v1/chat/completions"]
    assert sent["stream"] is streamed
    if streamed:
        assert sent["stream_options"] == {"include_usage": True}
    rows = await rows_when(session, lambda r: "chat" in r)
    assert rows["chat"]["estimated"] is False
    assert rows["chat"]["prompt_tokens"] == 5  # what the test server reports
    assert rows["chat"]["completion_tokens"] == len(split_tokens(reply))
    assert rows["chat"]["operation"] == "chat" and rows["chat"]["provider"] == "openai"


async def test_openai_answer_without_usage_is_estimated(
    started: Any, hf_server: HFTestServer
) -> None:
    body = {"id": "x", "object": "chat.completion", "model": "org/chat",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Fine, thanks."}}]}
    hf_server.script(match_path="/v1/chat/completions", body=body)
    session = await started({"models": [model("chat", "openai", hf_server.url + "/v1",
                                              ["chat"])]})
    assert (await chat(session, "How are you?")).content == "Fine, thanks."
    rows = await rows_when(session, lambda r: "chat" in r)
    assert rows["chat"]["estimated"] is True and rows["chat"]["completion_tokens"] > 0


async def test_a_cancelled_stream_records_what_was_generated(
    started: Any, hf_server: HFTestServer
) -> None:
    hf_server.script("word " * 200, token_delay_s=0.05)
    session = await started({"models": [model("chat", "openai", hf_server.url + "/v1",
                                              ["chat"])]})
    partials = record_partial_results(session)
    protocol = session.client.protocol
    pending = asyncio.ensure_future(protocol.send_request_async(
        "bytebuddy/chat",
        {"messages": [{"role": "user", "content": "Talk"}], "partialResultToken": "t"},
        "chat-cancel",
    ))
    await session.wait_for(lambda: len(partials.get("t", [])) >= 3, what="a few deltas")
    protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="chat-cancel"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(pending, 5)
    rows = await rows_when(session, lambda r: "chat" in r)
    generated = rows["chat"]["completion_tokens"]
    assert 3 <= generated < 200  # what had been streamed, not the whole answer
    assert rows["chat"]["errors"] == 0  # cancelled is not an error


async def test_router_provider_and_price(
    started: Any, hf_server: HFTestServer, tmp_path: Path
) -> None:
    hf_server.script(match_path="/v1/models", body=PRICE_LIST)
    hf_server.script("Sure.")
    session = await started(
        {"models": [{"name": "qwen", "provider": "huggingfaceinferenceapi",
                     "model": "Qwen/Qwen2.5-Coder-32B-Instruct:together", "apiKey": "hf_test",
                     "roles": ["chat"]}]},
        env={"BYTEBUDDY_ROUTER_URL": hf_server.url, "HF_ENDPOINT": hf_server.url},
    )
    await session.wait_for(
        lambda: any(r.path == "/v1/models" for r in hf_server.requests), what="the price list"
    )
    await asyncio.sleep(0.3)  # parsed on its own thread
    assert (await chat(session, "Hello?")).content == "Sure."
    rows = await rows_when(session, lambda r: "together" in r, by="provider")
    row = rows["together"]
    expected = (row["prompt_tokens"] * 0.8 + row["completion_tokens"] * 1.2) / 1e6
    assert row["cost_usd"] == pytest.approx(expected, abs=1e-6) and row["cost_usd"] > 0


async def test_a_blocking_budget_stops_requests_with_how_to_raise_it(
    started: Any, hf_server: HFTestServer
) -> None:
    hf_server.script("An answer of a few tokens.")
    session = await started({
        "models": [model("chat", "openai", hf_server.url + "/v1", ["chat"])],
        "budgets": [{"period": "day", "tokens": 10, "onExceed": "block"}],
    })
    await chat(session, "First question")  # 5 + 6 tokens: over the budget
    await session.wait_for(
        lambda: any((s.get("budget") or {}).get("state") == "exceeded" for s in session.statuses),
        what="the budget used up",
    )
    before = len(hf_server.requests)
    with pytest.raises(JsonRpcException, match="To raise it") as refused:
        await chat(session, "Second question")
    assert "requests are blocked until tomorrow" in str(refused.value)
    assert len(hf_server.requests) == before  # nothing sent
    shown = [m.message for m in session.client.messages]
    assert any("100 %" in m and "daily budget of 10 tokens" in m for m in shown), shown


async def test_audit_lines_never_hold_the_code(
    started: Any, hf_server: HFTestServer, tmp_path: Path
) -> None:
    secret = "sk-live-0123456789abcdef"
    code = f'API_KEY = "{secret}"\ndef add(a, b):\n    '
    log = tmp_path / "audit.jsonl"
    hf_server.configure(engine="tgi")
    hf_server.script(REPLY)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(json.dumps({
        "models": [model("fim", "huggingface-tgi", hf_server.url, ["autocomplete"])],
        "audit": {"path": str(log)},
    }))
    manager = running_server(cwd=tmp_path, args=["--config", str(config_path)],
                             env={"XDG_STATE_HOME": str(tmp_path / "state")})
    async with manager as session:
        await session.wait_for_status("ready")
        uri = (tmp_path / "keys.py").as_uri()
        session.open(uri, code)
        assert items(await complete(session, uri, line=2, character=4))
        await rows_when(session, lambda r: "fim" in r)
    text = log.read_text()
    assert secret not in text and "def add" not in text
    [line] = [json.loads(x) for x in text.splitlines()]
    sent = next(r for r in hf_server.requests if r.path == "/generate").json["inputs"]
    import hashlib

    assert line["prompt_sha256"] == hashlib.sha256(sent.encode()).hexdigest()
    assert line["model"] == "fim" and line["outcome"] == "ok" and line["operation"]
