"""Warm-up benchmark: what the first completion after opening a file waits for when the
model's Inference Endpoint is scaled to zero, with ``warmup: onOpen`` and without.

Runs the real ``bytebuddy-ls`` against the loopback HF server and its Inference Endpoints
emulation (``tests/endpoints_server.py``, in this process): the endpoint starts scaled to
zero and takes ``--cold-start`` seconds to start a replica. Each run opens a file, waits
``--think`` seconds (the user reading it), then asks for automatic completions every
100 ms until one arrives. Prints one JSON object:

- ``first_suggestion_s``: from the first completion request to the first suggestion
  (median over runs), per mode;
- ``empty_answers``: automatic requests answered empty meanwhile (median);
- ``warmup_requests``: generation requests sent before the first completion request;

and the same for ``already_running`` (the endpoint runs from the start: no cold start to
hide), the figure warm-up should match.

    python bench/endpoint_warmup.py [--runs 3] [--cold-start 3] [--think 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.endpoints_server import DEFAULT_NAMESPACE, EndpointsEmulator  # noqa: E402
from tests.hf_server import HFTestServer  # noqa: E402
from tests.lsp_harness import inline_capabilities, running_server  # noqa: E402

URI = "file:///bench/demo.py"
TEXT = "def add(a, b):\n    \n"


async def one_run(warmup: str, cold_start: float, think: float) -> dict[str, Any]:
    """``warmup`` onOpen | off; "running" is the baseline: the endpoint already runs."""
    hf = HFTestServer()
    emulator = EndpointsEmulator(hf)
    await hf.start()
    state = "running" if warmup == "running" else "scaledToZero"
    emulator.add("bench-coder", state=state, cold_start_s=cold_start)
    hf.script(reply="return a + b")
    config = {"models": [{
        "name": "coder", "provider": "huggingfaceinferenceapi",
        "model": "bigcode/starcoder2-3b", "apiKey": "hf_bench_key_0123456789abcdef",
        "roles": ["autocomplete"], "warmup": "off" if warmup == "running" else warmup,
        "endpoint": {"name": "bench-coder", "namespace": DEFAULT_NAMESPACE},
    }]}
    env = {"BYTEBUDDY_ENDPOINTS_API_URL": emulator.api_url, "HF_ENDPOINT": hf.url}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_server(cwd=Path(tmp), env=env, init_options={"config": config},
                                      capabilities=inline_capabilities()) as session:
                session.open(URI, TEXT)
                await asyncio.sleep(think)
                before = len([r for r in hf.requests if r.method == "POST"])
                started = time.monotonic()
                empties = 0
                while True:
                    result = await session.inline(URI, 1, 4, invoked=False)
                    if result is not None and result.items:
                        break
                    empties += 1
                    if time.monotonic() - started > cold_start * 10 + 30:
                        raise RuntimeError("no suggestion arrived")
                    await asyncio.sleep(0.1)
                return {"first_suggestion_s": time.monotonic() - started, "empty": empties,
                        "warmup_requests": before}
    finally:
        await hf.stop()


async def main_async(runs: int, cold_start: float, think: float) -> dict[str, Any]:
    out: dict[str, Any] = {"cold_start_s": cold_start, "think_s": think, "runs": runs}
    for mode in ("onOpen", "off", "running"):
        results = [await one_run(mode, cold_start, think) for _ in range(runs)]
        out["already_running" if mode == "running" else f"warmup_{mode}"] = {
            "first_suggestion_s": round(
                statistics.median(r["first_suggestion_s"] for r in results), 3
            ),
            "empty_answers": statistics.median(r["empty"] for r in results),
            "warmup_requests": max(r["warmup_requests"] for r in results),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-start", type=float, default=3.0)
    parser.add_argument("--think", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args.runs, args.cold_start, args.think)), indent=2))


if __name__ == "__main__":
    main()
