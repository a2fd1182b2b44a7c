"""Soak: many completion and chat requests with random upstream faults and cancellations.

Runs the real ``bytebuddy-ls`` (a subprocess, driven over LSP from here) against the
loopback HF test server (``tests/hf_server.py``, in this process), and prints one JSON
object of figures:

- ``requests`` / ``answered``: every request must get an answer (a result, or an LSP
  error such as RequestCancelled / RequestFailed); ``unanswered`` must be 0;
- ``crashes``: the server process ending before the shutdown (must be 0);
- ``rss_mb``: resident memory after the warm-up and at the end;
- ``tasks`` / ``sockets``: the server's asyncio tasks (``bytebuddy/debug/stats``, a
  request that exists only with ``BYTEBUDDY_DEBUG_REQUESTS=1``) and its open sockets
  (``/proc/PID/fd``) after the warm-up and at the end, once the server is idle again;
- ``latency_ms``: p50 / p99 / max of all requests, as the client sees them.

Workload: ``--requests`` requests (default 10,000) over ``--documents`` documents
(default 100), ``--concurrency`` at a time; each is an automatic or invoked inline
completion after a keystroke, or (``--chat-share``) a chat, streamed or not. A share
of upstream answers (``--fault-share``) is a random fault of the wire-protocol reference,
and a share of requests (``--cancel-share``) is cancelled soon after it is sent. The
server's retry waits are scaled down (``BYTEBUDDY_RETRY_SCALE``) so that faults cost
milliseconds, not the minutes a real cold model may take.

    python bench/soak.py            # the long form (``make soak``)
    python bench/soak.py --quick    # 500 requests over 20 documents (the test suite)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.hf_server import HFTestServer  # noqa: E402
from tests.lsp_harness import inline_params  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from _stats import pct, rss_mb  # noqa: E402

RETRY_SCALE = "0.01"
TIMEOUT_S = 1.0  # requestOptions.timeout: a stalled answer costs one second
ANSWER_DEADLINE_S = 60.0  # a request without an answer by then counts as unanswered
IDLE_SETTLE_S = 2.0  # after the load, before the end figures

# Upstream faults (HF test server rules, each used once), weighted by how often a user
# meets them.
FAULTS: list[tuple[float, dict[str, Any]]] = [
    (3, {"status": 503, "body": {"error": "Model is currently loading", "estimated_time": 5}}),
    (1, {"status": 503, "body": ""}),  # scaled to zero
    (1, {"status": 502, "body": "<html>502 Bad Gateway</html>"}),
    (3, {"status": 429, "headers": {"Retry-After": "0.05"}, "body": {"error": "Rate limited"}}),
    (2, {"status": 429}),  # overloaded
    (1, {"status": 401}),
    (1, {"status": 402}),
    (1, {"status": 404}),
    (1, {"status": 413, "body": "Payload Too Large"}),
    (1, {"status": 422}),
    (1, {"status": 424}),
    (3, {"status": 500}),
    (2, {"body": "<<<garbage>>>"}),
    (1, {"delay_s": TIMEOUT_S + 1}),  # stall past the timeout
    (2, {"reply": "one two three four five", "disconnect_after_tokens": 2}),
    (2, {"reply": "one two three", "error_event": "boom", "error_type": "generation"}),
]


def config(url: str) -> dict[str, Any]:
    options = {"timeout": TIMEOUT_S}
    return {
        "models": [
            {
                "name": "ac",
                "provider": "huggingface-tgi",
                "model": "bigcode/starcoder2-3b",
                "apiBase": url,
                "apiKey": "soak-key",
                "roles": ["autocomplete"],
                "requestOptions": options,
            },
            {
                "name": "chat",
                "provider": "openai",
                "model": "soak-chat",
                "apiBase": f"{url}/v1",
                "apiKey": "soak-key",
                "roles": ["chat", "edit", "apply"],
                "requestOptions": options,
            },
        ]
    }


def _ignore(_params: Any) -> None:
    """Status notifications are not part of the figures."""


def open_sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd).startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed meanwhile
    return count


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path, hf: HFTestServer) -> None:
        self.args = args
        self.workdir = workdir
        self.hf = hf
        self.rng = random.Random(args.seed)
        self.client = make_test_lsp_client()
        self.latencies: list[float] = []
        self.counts = {
            "requests": 0,
            "answered": 0,
            "unanswered": 0,
            "results": 0,
            "errors": 0,
            "cancelled": 0,
            "suggestions": 0,
            "chats": 0,
            "faults_injected": 0,
            "cancels_sent": 0,
        }
        self.error_codes: dict[str, int] = {}
        self.versions: dict[str, int] = {}
        self.lines: dict[str, int] = {}
        self._ids = 0
        self._fault_weights = [w for w, _ in FAULTS]

    # ----- server -------------------------------------------------------------------

    async def start(self) -> None:
        env = {
            **os.environ,
            "HOME": str(self.workdir),
            "BYTEBUDDY_RETRY_SCALE": RETRY_SCALE,
            "BYTEBUDDY_DEBUG_REQUESTS": "1",
        }
        for name in ("HF_TOKEN", "HF_API_KEY", "BYTEBUDDY_CONFIG"):
            env.pop(name, None)
        await self.client.start_io(
            sys.executable,
            "-m",
            "bytebuddy_ls",
            "serve",
            "--log-file",
            str(self.workdir / "server.log"),
            "--log-level",
            "warning",
            env=env,
            cwd=str(self.workdir),
        )
        self.client.feature("bytebuddy/status")(_ignore)
        # Partial chat results arrive as $/progress without a work-done "kind": count
        # them here instead of letting the test client reject them.
        features = self.client.protocol.fm.features
        original = features[types.PROGRESS]

        def on_progress(params: types.ProgressParams) -> Any:
            if isinstance(params.value, dict) and "kind" not in params.value:
                return None
            return original(params)

        features[types.PROGRESS] = on_progress
        caps = client_capabilities("visual-studio-code")
        assert caps.text_document is not None
        caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()
        await self.client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                root_uri=self.workdir.as_uri(),
                initialization_options={"config": config(self.hf.url)},
            )
        )

    @property
    def pid(self) -> int:
        server = self.client._server
        assert server is not None
        return int(server.pid)

    def alive(self) -> bool:
        server = self.client._server
        return server is not None and server.returncode is None

    async def debug_stats(self) -> dict[str, Any] | None:
        try:
            result = await asyncio.wait_for(
                self.client.protocol.send_request_async("bytebuddy/debug/stats", {}), 10
            )
        except (JsonRpcException, asyncio.TimeoutError):
            return None
        return result if isinstance(result, dict) else dict(result._asdict())

    async def idle_figures(self) -> dict[str, Any]:
        await asyncio.sleep(IDLE_SETTLE_S)
        stats = await self.debug_stats()
        return {
            "rss_mb": rss_mb(self.pid),
            "tasks": stats.get("tasks") if stats else None,
            "in_flight": stats.get("inFlight") if stats else None,
            "sockets": open_sockets(self.pid),
        }

    # ----- workload -----------------------------------------------------------------

    def uri(self, index: int) -> str:
        return (self.workdir / f"doc_{index:03d}.py").as_uri()

    def open_documents(self) -> None:
        for index in range(self.args.documents):
            uri = self.uri(index)
            text = f"# document {index}\n" + "".join(
                f"def f{index}_{n}(a, b):\n    return a * {n} + b\n\n\n" for n in range(20)
            )
            text += "def target(a, b):\n    "
            self.versions[uri] = 1
            self.lines[uri] = text.count("\n")
            self.client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
                )
            )

    def keystroke(self, uri: str) -> types.Position:
        """Type one character at the end of the document; returns the cursor after it."""
        self.versions[uri] += 1
        line = self.lines[uri]
        column = 4 + self.versions[uri] - 2
        at = types.Position(line, column)
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                [
                    types.TextDocumentContentChangePartial(
                        range=types.Range(at, at), text=self.rng.choice("abcxyz_ ")
                    )
                ],
            )
        )
        return types.Position(line, column + 1)

    def maybe_fault(self) -> None:
        if self.rng.random() < self.args.fault_share:
            rule = self.rng.choices(FAULTS, self._fault_weights)[0][1]
            self.hf.script(**rule, times=1)
            self.counts["faults_injected"] += 1

    def next_id(self) -> str:
        self._ids += 1
        return f"soak-{self._ids}"

    async def one_request(self) -> None:
        uri = self.uri(self.rng.randrange(self.args.documents))
        msg_id = self.next_id()
        chat = self.rng.random() < self.args.chat_share
        if chat:
            params: Any = {
                "messages": [{"role": "user", "content": f"Explain {msg_id}"}],
                "textDocument": {"uri": uri},
            }
            if self.rng.random() < 0.5:
                params["partialResultToken"] = f"partial-{msg_id}"
            method = "bytebuddy/chat"
            self.counts["chats"] += 1
        else:
            position = self.keystroke(uri)
            invoked = self.rng.random() >= 0.8
            params = inline_params(uri, position.line, position.character, invoked=invoked)
            method = types.TEXT_DOCUMENT_INLINE_COMPLETION
        self.maybe_fault()
        self.counts["requests"] += 1
        started = time.perf_counter()
        future = asyncio.ensure_future(
            self.client.protocol.send_request_async(method, params, msg_id=msg_id)
        )
        if self.rng.random() < self.args.cancel_share:
            await asyncio.sleep(self.rng.uniform(0, 0.05))
            self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
            self.counts["cancels_sent"] += 1
        try:
            result = await asyncio.wait_for(future, ANSWER_DEADLINE_S)
        except asyncio.TimeoutError:
            self.counts["unanswered"] += 1
            return
        except JsonRpcException as exc:
            self.counts["answered"] += 1
            self.counts["errors"] += 1
            code = str(getattr(exc, "code", "?"))
            self.error_codes[code] = self.error_codes.get(code, 0) + 1
            if code == "-32800":
                self.counts["cancelled"] += 1
        except asyncio.CancelledError:
            # The client library resolves a cancelled request's future this way.
            self.counts["answered"] += 1
            self.counts["cancelled"] += 1
        else:
            self.counts["answered"] += 1
            self.counts["results"] += 1
            items = getattr(result, "items", None)
            if items:
                self.counts["suggestions"] += 1
        self.latencies.append((time.perf_counter() - started) * 1000)

    async def worker(self, quota: int) -> None:
        for _ in range(quota):
            if not self.alive():
                return
            await self.one_request()
            if len(self.hf.requests) > 2000:
                self.hf.requests.clear()  # the test server's record, not the server's state

    async def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        await self.start()
        self.open_documents()
        # Warm-up: engine detection, pools, imports; then the baseline.
        for index in range(min(5, self.args.documents)):
            await self.client.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION,
                inline_params(self.uri(index), self.lines[self.uri(index)], 4),
            )
        await self.client.protocol.send_request_async(
            "bytebuddy/chat", {"messages": [{"role": "user", "content": "warm up"}]}
        )
        baseline = await self.idle_figures()
        load_started = time.perf_counter()
        total, workers = self.args.requests, self.args.concurrency
        quotas = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]
        await asyncio.gather(*(self.worker(q) for q in quotas))
        load_s = time.perf_counter() - load_started
        crashed = not self.alive()
        end = await self.idle_figures() if not crashed else {}
        shutdown_ok = False
        if not crashed:
            try:
                await asyncio.wait_for(self.client.shutdown_session(), 15)
                shutdown_ok = True
            except Exception:
                await self.client.stop()
        else:
            await self.client.stop()
        return {
            "form": "quick" if self.args.quick else "long",
            "documents": self.args.documents,
            "concurrency": self.args.concurrency,
            **self.counts,
            "error_codes": self.error_codes,
            "crashes": 1 if crashed else 0,
            "clean_shutdown": shutdown_ok,
            "rss_mb": {"start": baseline["rss_mb"], "end": end.get("rss_mb")},
            "tasks": {"start": baseline["tasks"], "end": end.get("tasks")},
            "in_flight_upstream": {"start": baseline["in_flight"], "end": end.get("in_flight")},
            "sockets": {"start": baseline["sockets"], "end": end.get("sockets")},
            "latency_ms": {  # null when nothing was answered
                "p50": round(pct(self.latencies, 0.50), 1) if self.latencies else None,
                "p99": round(pct(self.latencies, 0.99), 1) if self.latencies else None,
                "max": round(max(self.latencies), 1) if self.latencies else None,
            },
            "requests_per_s": round(self.counts["requests"] / load_s, 1) if load_s else None,
            "wall_s": round(time.perf_counter() - started, 1),
        }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    hf = HFTestServer()
    await hf.start()
    hf.script(reply="return a + b")
    try:
        with tempfile.TemporaryDirectory(prefix="bytebuddy-soak-") as tmp:
            return await Soak(args, Path(tmp), hf).run()
    finally:
        await hf.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="500 requests over 20 documents")
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--chat-share", type=float, default=0.15)
    parser.add_argument("--fault-share", type=float, default=0.10)
    parser.add_argument("--cancel-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = 500 if args.quick else 10_000
    if args.documents is None:
        args.documents = 20 if args.quick else 100
    return args


if __name__ == "__main__":
    figures = asyncio.run(main(parse_args()))
    print(json.dumps(figures, indent=2))
    ok = figures["crashes"] == 0 and figures["unanswered"] == 0
    sys.exit(0 if ok else 1)
