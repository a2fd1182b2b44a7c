"""What the LSP benchmarks share (not a benchmark: ``make bench`` passes over ``bench/_*``).

The real ``bytebuddy-ls`` is driven through the tests' harness (``tests/lsp_harness.py``:
``running_server``, ``Session.open/insert/inline``); the loopback HF test server
(``tests/hf_server.py``) runs in a process of its own, so that it does not share the
benchmark's event loop.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.lsp_harness import Session, inline_capabilities, running_server  # noqa: E402


@asynccontextmanager
async def hf_process(workdir: Path, reply: str) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The loopback HF server in a child process, answering ``reply`` at once to every
    generation request: its base URL and an HTTP client for it."""
    port_file = workdir / "hf.port"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "tests" / "hf_server.py"),
        "--port",
        "0",
        "--port-file",
        str(port_file),
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            if port_file.exists():
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError("hf_server did not start")
        base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        async with httpx.AsyncClient(timeout=10) as http:
            await http.post(f"{base}/_test/script", json={"reply": reply})
            yield base, http
    finally:
        process.terminate()
        await process.wait()


def lsp_server(workdir: Path, init: dict[str, Any]) -> AbstractAsyncContextManager[Session]:
    """The real server started in ``workdir`` (its home and workspace folder), initialized
    with ``init`` by a client that takes inline completions."""
    return running_server(cwd=workdir, init_options=init, capabilities=inline_capabilities())


def tgi_config(base: str, **top_level: Any) -> dict[str, Any]:
    """A config whose one model, TGI at ``base``, serves autocomplete."""
    model = {
        "name": "fim",
        "provider": "huggingface-tgi",
        "model": "bigcode/starcoder2-3b",
        "apiBase": base,
        "apiKey": "bench-key",
        "roles": ["autocomplete"],
    }
    return {"models": [model], **top_level}


async def overhead_rounds(
    session: Session,
    http: httpx.AsyncClient,
    base: str,
    *,
    uri: str,
    line: int,
    column: int,
    typed: Callable[[int], str],
    rounds: int,
) -> tuple[list[float], list[float]]:
    """The server's overhead: ``rounds`` invoked completions through the server, each a
    cache miss (round ``i`` types ``typed(i)`` at ``column + i`` of ``line`` first; the
    document was just opened, at version 1), alternating with a direct call of the same
    kind to the same upstream, so that both see the same machine load. Milliseconds:
    (direct, through the server)."""
    direct: list[float] = []
    via_lsp: list[float] = []
    for i in range(rounds):
        started = time.perf_counter()
        reply = await http.post(
            f"{base}/generate",
            json={
                "inputs": f"<fim_prefix>x{i}<fim_suffix><fim_middle>",
                "parameters": {"max_new_tokens": 48},
            },
        )
        reply.raise_for_status()
        direct.append((time.perf_counter() - started) * 1000)
        session.insert(uri, i + 2, line, column + i, typed(i))
        started = time.perf_counter()
        result = await session.inline(uri, line, column + i + 1)
        via_lsp.append((time.perf_counter() - started) * 1000)
        assert result is not None and result.items, "no suggestion"
    return direct, via_lsp
