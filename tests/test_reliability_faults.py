"""Fault matrix: every upstream fault of the wire-protocol reference × every operation.

The real server process talks to the loopback HF server through a fault proxy (for
refused and reset connections). For each cell:
- the request is answered (no hang: a bounded wait), with nothing for autocomplete and
  an LSP error naming the cause for the other operations;
- the user sees the right thing, at most once (``window/showMessage`` count; the
  message or status names the cause);
- nothing is applied on failure (no ``workspace/applyEdit``, no edit on a resolved action);
- the next request works (same operation, fault gone).

One server process per fault runs all of that fault's cells (module-scoped, parametrized
fixture), so the matrix stays fast. Retry waits in the server are scaled down with
``BYTEBUDDY_RETRY_SCALE`` (the policy's shape is kept; ``Retry-After`` hints are not scaled).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from bytebuddy_ls.inference import RetryPolicy
from bytebuddy_ls.inference.policy import RETRY_SCALE_ENV

from .ai_support import fix_code_action_results, record_partial_results, vscode_capabilities
from .fault_proxy import FaultProxy
from .hf_server import HFTestServer
from .lsp_harness import Session, running_server

pytestmark = pytest.mark.asyncio(loop_scope="module")

RETRY_SCALE = 0.01  # loading budget 1.2 s, backoffs of ~10 ms, breaker cooldown 0.3 s
TIMEOUT_S = 1.5  # requestOptions.timeout of both models
CELL_DEADLINE_S = 20.0  # "answered": far above any bounded wait of the scaled policy
RATE_LIMIT_HINT_S = 0.4

EDITED_FUNCTION = "def area(r):\n    return 3.14159 * r * r\n"
CHAT_SUCCESS = f"```python\n{EDITED_FUNCTION}```"
AUTOCOMPLETE_SUCCESS = "return a + b"


# ----- faults ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str
    # What the user must be told (status, error or message), case-insensitive.
    says: str
    script: dict[str, Any] | None = None
    proxy: str = "pass"
    # How the fault looks inside a streamed answer, when that differs.
    stream_script: dict[str, Any] | None = None
    streaming_only: bool = False
    # A cold model: automatic autocomplete answers nothing at once for a short while.
    loading: bool = False
    # Minimum seconds the request must take (a hint the server must honour).
    min_elapsed_s: float = 0.0


FAULTS = [
    Fault("503-loading", "loading", {"status": 503}, loading=True),
    # From a self-hosted server these are server errors; only an Inference Endpoint's
    # host means "waking up" (tests/test_inference_errors.py, through a forward proxy).
    Fault("503-empty", "HTTP 503|server error", {"status": 503, "body": ""}),
    Fault(
        "502-html",
        "HTTP 502|bad gateway",
        {"status": 502, "body": "<html><body>502 Bad Gateway</body></html>"},
    ),
    Fault(
        "429-retry-after",
        "rate limit",
        {
            "status": 429,
            "body": {"error": "Rate limit reached. You reached free usage limit (reset hourly)."},
            "headers": {"Retry-After": str(RATE_LIMIT_HINT_S)},
        },
        # Three retries, each after the hinted wait.
        min_elapsed_s=3 * RATE_LIMIT_HINT_S,
    ),
    Fault("429-overloaded", "overloaded", {"status": 429}),
    Fault("401", "token", {"status": 401}),
    Fault("402", "credits", {"status": 402}),
    Fault(
        "403",
        "forbidden|token",
        {"status": 403, "body": None, "headers": {"X-Error-Message": "Forbidden"}},
    ),
    Fault("404", "does not exist|model id", {"status": 404}),
    Fault("410", "retired|no longer supported", {"status": 410}),
    Fault("413", "too long|too large", {"status": 413, "body": "Payload Too Large"}),
    Fault("422-too-long", "too long|must be <=", {"status": 422}),
    Fault("424", "generation", {"status": 424}),
    Fault("500", "HTTP 500|server error", {"status": 500}),
    Fault("garbage-body", "expected format|unexpected", {"body": "<<<garbage, not JSON>>>"}),
    Fault("connection-refused", "connect", proxy="refuse"),
    Fault(
        "reset-mid-stream",
        "closed the connection|connection|incomplete",
        proxy="reset",
        stream_script={"reply": "one two three four five six", "disconnect_after_tokens": 2},
    ),
    Fault("stall-past-timeout", "in time|within", {"delay_s": TIMEOUT_S + 2.5}),
    Fault(
        "error-event-in-200-stream",
        "boom",
        stream_script={
            "reply": "one two three four",
            "error_event": "Request failed during generation: boom",
            "error_type": "generation",
        },
        streaming_only=True,
    ),
]


# ----- the rig: one server per fault -------------------------------------------------


@dataclass
class Outcome:
    ok: bool
    error: str | None = None
    value: Any = None


@dataclass
class Rig:
    session: Session
    hf: HFTestServer
    proxy: FaultProxy
    root: Path
    fault: Fault
    partials: dict[Any, list[Any]]
    counter: itertools.count[int] = field(default_factory=itertools.count)
    shown: list[str] = field(default_factory=list)

    def fresh_document(self, op: str) -> tuple[str, str]:
        """A new file (new text, so no cached answer hides the fault)."""
        n = next(self.counter)
        text = (
            f"# {op} cell {n}\n"
            "import math\n\n\n"
            "def area(r):\n"
            "    return math.pi * r * r\n\n\n"
            "def add(a, b):\n"
            "    \n"
        )
        path = self.root / f"cell_{n}.py"
        path.write_text(text)
        uri = path.as_uri()
        self.session.open(uri, text)
        return uri, text

    async def inject(self, op: str) -> None:
        fault = self.fault
        script = fault.stream_script if op == "chat-stream" and fault.stream_script else None
        if script is not None:
            self.hf.script(**script)
            return
        await self.proxy.set_mode(fault.proxy)  # type: ignore[arg-type]
        if fault.script is not None:
            self.hf.script(**fault.script)

    async def clear(self) -> None:
        await self.proxy.set_mode("pass")
        self.hf.reset()


AREA_RANGE = {"start": {"line": 4, "character": 0}, "end": {"line": 6, "character": 0}}


async def _inline(rig: Rig, uri: str, automatic: bool) -> Outcome:
    result = await rig.session.inline(uri, 9, 4, invoked=not automatic)
    assert result is not None
    items = result.items
    return Outcome(ok=bool(items), value=list(items))


async def op_auto_autocomplete(rig: Rig, uri: str) -> Outcome:
    return await _inline(rig, uri, automatic=True)


async def op_invoked_autocomplete(rig: Rig, uri: str) -> Outcome:
    return await _inline(rig, uri, automatic=False)


async def op_edit_resolve(rig: Rig, uri: str) -> Outcome:
    client = rig.session.client
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(4, 0), types.Position(6, 0)),
            context=types.CodeActionContext(
                diagnostics=[], trigger_kind=types.CodeActionTriggerKind.Invoked
            ),
        )
    )
    refactor = next(
        a for a in actions or [] if isinstance(a, types.CodeAction) and "Refactor" in a.title
    )
    try:
        resolved = await client.code_action_resolve_async(refactor)
    except JsonRpcException as exc:
        return Outcome(ok=False, error=str(exc))
    return Outcome(ok=resolved.edit is not None, value=resolved)


async def _command(rig: Rig, command: str, argument: dict[str, Any]) -> Outcome:
    try:
        result = await rig.session.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=[argument])
        )
    except JsonRpcException as exc:
        return Outcome(ok=False, error=str(exc))
    return Outcome(ok=bool(result and result.get("applied")), value=result)


async def op_edit_command(rig: Rig, uri: str) -> Outcome:
    return await _command(
        rig, "bytebuddy.edit", {"uri": uri, "range": AREA_RANGE, "instruction": "use 3.14159"}
    )


async def op_apply(rig: Rig, uri: str) -> Outcome:
    # The placeholder makes this a merge for the apply model (no deterministic plan).
    block = "def area(r):\n    # ... existing code ...\n    return 3.14159 * r * r\n"
    return await _command(rig, "bytebuddy.apply", {"uri": uri, "code": block})


async def op_chat_stream(rig: Rig, uri: str) -> Outcome:
    token = f"chat-{next(rig.counter)}"
    try:
        result = await rig.session.client.protocol.send_request_async(
            "bytebuddy/chat",
            {
                "messages": [{"role": "user", "content": "What does area do?"}],
                "textDocument": {"uri": uri},
                "partialResultToken": token,
            },
        )
    except JsonRpcException as exc:
        return Outcome(ok=False, error=str(exc))
    content = result["content"] if isinstance(result, dict) else result.content
    streamed = "".join(v["delta"] for v in rig.partials.get(token, []))
    return Outcome(ok=bool(content) and streamed == content, value=content)


OPS: dict[str, Callable[[Rig, str], Awaitable[Outcome]]] = {
    "auto-autocomplete": op_auto_autocomplete,
    "invoked-autocomplete": op_invoked_autocomplete,
    "edit-resolve": op_edit_resolve,
    "edit-command": op_edit_command,
    "apply": op_apply,
    "chat-stream": op_chat_stream,
}
AUTOCOMPLETE_OPS = ("auto-autocomplete", "invoked-autocomplete")


def config_text(proxy_url: str) -> str:
    return (
        "models:\n"
        "  - name: ac\n"
        "    provider: huggingface-tgi\n"
        "    model: bigcode/starcoder2-3b\n"
        f"    apiBase: {proxy_url}\n"
        "    apiKey: test-key-ac\n"
        "    roles: [autocomplete]\n"
        f"    requestOptions: {{timeout: {TIMEOUT_S}}}\n"
        "  - name: chat\n"
        "    provider: openai\n"
        "    model: test-chat\n"
        f"    apiBase: {proxy_url}/v1\n"
        "    apiKey: test-key-chat\n"
        "    roles: [chat, edit, apply]\n"
        f"    requestOptions: {{timeout: {TIMEOUT_S}}}\n"
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def upstream() -> AsyncIterator[tuple[HFTestServer, FaultProxy]]:
    hf = HFTestServer()
    await hf.start()
    proxy = FaultProxy("127.0.0.1", hf.port)
    await proxy.start()
    try:
        yield hf, proxy
    finally:
        await proxy.stop()
        await hf.stop()


def cell_exists(rig: Fault, op: str) -> bool:
    """An error event inside a 200 stream needs a streaming operation; other cells all
    exist. conftest.py deselects the cells that don't (they are not skipped tests)."""
    return not (rig.streaming_only and op != "chat-stream")


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=FAULTS, ids=[f.name for f in FAULTS]
)
async def rig(
    request: pytest.FixtureRequest,
    upstream: tuple[HFTestServer, FaultProxy],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Rig]:
    hf, proxy = upstream
    await proxy.set_mode("pass")
    hf.reset()
    fault: Fault = request.param
    root = tmp_path_factory.mktemp(fault.name)
    config = root / "config.yaml"
    config.write_text(config_text(proxy.url))
    capabilities = vscode_capabilities()
    assert capabilities.text_document is not None
    capabilities.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    async with running_server(
        cwd=root,
        args=["--config", str(config)],
        env={RETRY_SCALE_ENV: str(RETRY_SCALE)},
        capabilities=capabilities,
    ) as session:
        fix_code_action_results(session)
        partials = record_partial_results(session)
        rig = Rig(session, hf, proxy, root, fault, partials)
        # Warm up: engine detection and /info happen here, not inside a faulty cell.
        for op in ("invoked-autocomplete", "chat-stream"):
            uri, _ = rig.fresh_document(op)
            hf.script(reply=AUTOCOMPLETE_SUCCESS if op in AUTOCOMPLETE_OPS else CHAT_SUCCESS)
            assert (await OPS[op](rig, uri)).ok, f"warm-up {op} failed"
        hf.reset()
        yield rig
        # Across the whole fault: each distinct message at most once.
        texts = [m.message for m in session.client.messages]
        assert len(texts) == len(set(texts)), texts


def _matches(pattern: str, text: str | None) -> bool:
    return text is not None and re.search(pattern, text, re.IGNORECASE) is not None


@pytest.mark.parametrize("op", list(OPS))
async def test_fault_cell(rig: Rig, op: str) -> None:
    fault, session, hf = rig.fault, rig.session, rig.hf
    uri, _ = rig.fresh_document(op)
    messages_before = len(session.client.messages)
    statuses_before = len(session.statuses)
    applied_before = len(session.applied_edits)

    await rig.inject(op)
    started = time.monotonic()
    outcome = await asyncio.wait_for(OPS[op](rig, uri), CELL_DEADLINE_S)
    elapsed = time.monotonic() - started
    await rig.clear()

    # Answered, with nothing.
    assert not outcome.ok, f"{op} under {fault.name} succeeded: {outcome}"
    assert len(session.applied_edits) == applied_before, "an edit was applied on failure"
    if op in AUTOCOMPLETE_OPS:
        assert outcome.error is None and outcome.value == []
    else:
        assert outcome.error is not None, outcome
        assert _matches(fault.says, outcome.error), outcome.error
    if fault.min_elapsed_s and not (op == "auto-autocomplete" and fault.loading):
        assert elapsed >= fault.min_elapsed_s, f"Retry-After not honoured ({elapsed:.2f} s)"

    # Told at most once, and what it says is the cause.
    await asyncio.sleep(0.05)  # notifications sent just before the answer
    new_messages = [m.message for m in session.client.messages[messages_before:]]
    assert len(new_messages) <= 1, new_messages
    assert all(_matches(fault.says, m) for m in new_messages), new_messages
    if op in AUTOCOMPLETE_OPS:
        said = [s.get("message") for s in session.statuses[statuses_before:]]
        assert any(_matches(fault.says, m) for m in said), said

    # The next request works.
    if op == "auto-autocomplete" and fault.loading:
        # By design automatic requests skip a loading model for its estimated load time
        # (scaled here); the first one after that reaches the model again.
        await asyncio.sleep(0.5)
    hf.script(reply=AUTOCOMPLETE_SUCCESS if op in AUTOCOMPLETE_OPS else CHAT_SUCCESS)
    uri, _ = rig.fresh_document(op)
    recovered = await asyncio.wait_for(OPS[op](rig, uri), CELL_DEADLINE_S)
    hf.reset()
    assert recovered.ok, f"{op} after {fault.name} did not recover: {recovered}"


async def test_retry_scale_shrinks_only_our_own_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RETRY_SCALE_ENV, "0.5")
    policy = RetryPolicy.from_env()
    default = RetryPolicy()
    assert policy.max_wait_for_model_s == default.max_wait_for_model_s / 2
    assert policy.breaker_cooldown_s == default.breaker_cooldown_s / 2
    assert policy.rate_limit_max_wait_s == default.rate_limit_max_wait_s  # a server's hint cap
    assert policy.rate_limit_retries == default.rate_limit_retries
    for bad in ("0", "-1", "nan", "fast"):
        monkeypatch.setenv(RETRY_SCALE_ENV, bad)
        assert RetryPolicy.from_env() == default
