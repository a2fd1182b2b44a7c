"""Autocomplete benchmark: prints one JSON object of figures (issue 4's targets).

Runs the real ``bytebuddy-ls`` and the loopback HF test server (``tests/hf_server.py``,
answering at once), each in its own process, and drives them over LSP from here.
Figures are measured in one run so they can be compared with each other; machines
here are shared and noisy, so read ratios, not absolute times.

    python bench/autocomplete.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from lsprotocol import types

from _lsp import Session, hf_process, lsp_server, overhead_rounds, tgi_config
from _stats import pct, rss_mb

URI = "file:///bench/demo.py"
TARGETS = {
    "overhead_p50_ms": 3.0,
    "overhead_p95_ms": 10.0,
    "burst_upstream_calls": 2,
    "typed_ahead_upstream_calls": 0,
    "cold_start_ratio": 1.3,
    "rss_mb_after_1000": 100.0,
    "big_file_edit_completion_p50_ms": 20.0,
}

BARE_SERVER = """
from pygls.lsp.server import LanguageServer
LanguageServer("bare", "0").start_io()
"""


def cold_start(command: list[str], workdir: Path) -> tuple[float, float]:
    """Wall and CPU seconds from spawn until the ``initialize`` answer arrives."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=workdir,
        env={**os.environ, "HOME": str(workdir)},
    )
    assert process.stdin is not None and process.stdout is not None
    body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
    process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    process.stdin.flush()
    header = b""
    while not header.endswith(b"\r\n\r\n"):
        chunk = process.stdout.read(1)
        if not chunk:
            raise RuntimeError(f"{command} exited before answering initialize")
        header += chunk
    wall = time.perf_counter() - started
    process.kill()
    process.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def server_pid(session: Session) -> int:
    server = session.client._server
    assert server is not None
    return int(server.pid)


async def upstream_count(http: httpx.AsyncClient, base: str) -> int:
    requests = (await http.get(f"{base}/_test/requests")).json()
    return sum(1 for r in requests if r["path"] in ("/generate", "/generate_stream", "/"))


def cold_start_figures(workdir: Path, runs: int) -> dict[str, Any]:
    """Cold start, ours vs a bare pygls server: spawn to initialize answered."""
    bare = workdir / "bare_server.py"
    bare.write_text(BARE_SERVER)
    # Alternate the two so a change in the machine's load hits both alike.
    ours, plain = [], []
    for _ in range(runs):
        ours.append(cold_start([sys.executable, "-m", "bytebuddy_ls"], workdir))
        plain.append(cold_start([sys.executable, str(bare)], workdir))
    ours_wall, ours_cpu = (statistics.median(x) for x in zip(*ours, strict=True))
    bare_wall, bare_cpu = (statistics.median(x) for x in zip(*plain, strict=True))
    return {
        "cold_start_ms": round(ours_wall * 1000, 1),
        "cold_start_bare_pygls_ms": round(bare_wall * 1000, 1),
        "cold_start_cpu_ms": round(ours_cpu * 1000, 1),
        "cold_start_bare_pygls_cpu_ms": round(bare_cpu * 1000, 1),
        # CPU time is what start-up costs; wall time swings with the machine's load.
        "cold_start_ratio": round(ours_cpu / bare_cpu, 2),
        "cold_start_wall_ratio": round(ours_wall / bare_wall, 2),
    }


async def main(quick: bool) -> dict[str, Any]:
    rounds = 60 if quick else 200
    many = 300 if quick else 1000
    figures: dict[str, Any] = {"quick": quick}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        async with hf_process(workdir, reply="total += 1") as (base, http):
            figures.update(cold_start_figures(workdir, 5 if quick else 11))
            init = {"config": tgi_config(base), "autocomplete": {"debounceMs": 75}}
            async with lsp_server(workdir, init) as lsp:
                # Round trips through the server against direct HTTP calls of the same kind
                # to the same upstream: the difference is the server's overhead.
                lsp.open(URI, "def f():\n    \n")
                direct, via_lsp = await overhead_rounds(
                    lsp, http, base, uri=URI, line=1, column=4, typed=lambda i: "x", rounds=rounds
                )
                direct_p50, direct_p95 = pct(direct, 0.5), pct(direct, 0.95)
                lsp_p50, lsp_p95 = pct(via_lsp, 0.5), pct(via_lsp, 0.95)
                figures.update(
                    direct_http_p50_ms=round(direct_p50, 2),
                    direct_http_p95_ms=round(direct_p95, 2),
                    lsp_p50_ms=round(lsp_p50, 2),
                    lsp_p95_ms=round(lsp_p95, 2),
                    overhead_p50_ms=round(lsp_p50 - direct_p50, 2),
                    overhead_p95_ms=round(lsp_p95 - direct_p95, 2),
                    # Each LSP round trip minus the direct call just before it: the
                    # figure least moved by the machine's load.
                    overhead_paired_p50_ms=round(
                        statistics.median(x - d for x, d in zip(via_lsp, direct, strict=True)), 2
                    ),
                )

                # 20 keystrokes at 30 ms, automatic requests, without and with cancellation.
                for label, cancel in (
                    ("burst_upstream_calls", False),
                    ("burst_upstream_calls_cancelling", True),
                ):
                    uri = f"file:///bench/burst_{label}.py"
                    lsp.open(uri, f"def g_{cancel}():\n    \n")  # distinct: no cache hits
                    before = await upstream_count(http, base)
                    pending: list[tuple[str, Any]] = []
                    for i in range(20):
                        lsp.insert(uri, i + 2, 1, 4 + i, "y")
                        if cancel and pending:
                            lsp.client.protocol.notify(
                                types.CANCEL_REQUEST, types.CancelParams(id=pending[-1][0])
                            )
                        msg_id = f"{label}-{i}"
                        request = lsp.inline(uri, 1, 5 + i, invoked=False, msg_id=msg_id)
                        pending.append((msg_id, asyncio.ensure_future(request)))
                        await asyncio.sleep(0.03)
                    await asyncio.gather(*(f for _, f in pending), return_exceptions=True)
                    figures[label] = await upstream_count(http, base) - before

                # Typing three characters along a shown suggestion.
                uri = "file:///bench/ahead.py"
                lsp.open(uri, "def h():\n    \n")
                first = await lsp.inline(uri, 1, 4, invoked=False)
                assert first is not None and first.items, "no suggestion"
                text = first.items[0].insert_text
                before = await upstream_count(http, base)
                for i, ch in enumerate(text[:3]):
                    lsp.insert(uri, i + 2, 1, 4 + i, ch)
                    result = await lsp.inline(uri, 1, 5 + i, invoked=False)
                    assert result and result.items and result.items[0].insert_text == text[i + 1 :]
                figures["typed_ahead_upstream_calls"] = await upstream_count(http, base) - before

                # RSS after many requests.
                uri = "file:///bench/many.py"
                lsp.open(uri, "def k():\n    \n")
                for i in range(many):
                    lsp.insert(uri, i + 2, 1, 4 + i % 50, "z")
                    await lsp.inline(uri, 1, 5 + i % 50)
                figures[f"rss_mb_after_{many}"] = rss_mb(server_pid(lsp))
                figures["rss_mb_after_1000"] = figures[f"rss_mb_after_{many}"]

                # A 5 MB file: edit + completion, each a cache miss.
                line = "value = compute(alpha, beta, gamma)  # padding padding padding\n"
                big = "def big():\n" + line * (5_000_000 // len(line)) + "\n"
                middle = big.count("\n") // 2
                uri = "file:///bench/big.py"
                lsp.open(uri, big)
                timings = []
                for i in range(rounds // 2):
                    started = time.perf_counter()
                    lsp.insert(uri, i + 2, middle, i, "q")
                    await lsp.inline(uri, middle, i + 1)
                    timings.append((time.perf_counter() - started) * 1000)
                figures["big_file_mb"] = round(len(big) / 1e6, 1)
                figures["big_file_edit_completion_p50_ms"] = round(pct(timings, 0.5), 2)
                figures["big_file_edit_completion_p95_ms"] = round(pct(timings, 0.95), 2)
    figures["targets"] = TARGETS
    figures["met"] = {
        key: (figures[key] <= target) for key, target in TARGETS.items() if key in figures
    }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (CI smoke run)")
    print(json.dumps(asyncio.run(main(parser.parse_args().quick)), indent=2))
