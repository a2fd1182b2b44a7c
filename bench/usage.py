"""Usage accounting benchmark: prints one JSON object of figures.

What accounting adds to a request on the event loop: the budget check before the call
(``verdict``) and the record after it (``observe``: price lookup, budget counters, metrics,
queue put), with two budgets, the audit log and Prometheus metrics all on — the most
expensive setup. The ledger, audit and Redis writes happen on the accounting thread while
this runs, as in the server; the figures include the contention that causes.

    python bench/usage.py [--calls N]
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

from _stats import pct
from bytebuddy_ls.config import ConfigSourceKind, load_config_data
from bytebuddy_ls.inference.records import UpstreamCall
from bytebuddy_ls.usage.accounting import Accounting
from bytebuddy_ls.usage.ledger import read_usage
from bytebuddy_ls.usage.metrics import Metrics

TARGETS = {"accounting_p50_ms": 0.2}


async def run(calls: int, state: Path) -> dict[str, Any]:
    config = {
        "models": [
            {"name": "coder", "provider": "huggingfaceinferenceapi", "model": "org/coder",
             "pricing": {"input": 0.8, "output": 1.2}},
        ],
        "budgets": [
            {"period": "day", "tokens": 10**12, "onExceed": "block"},
            {"period": "month", "usd": 10**9, "model": "coder", "onExceed": "pause-autocomplete"},
        ],
        "audit": {"path": str(state / "audit.jsonl")},
    }
    accounting = Accounting(
        state_dir=state, router_base="http://127.0.0.1:9",
        report=lambda cause, message: print(cause, message, file=sys.stderr),
        alert=lambda alert: None,
    )
    accounting.metrics = Metrics()
    accounting.start()
    accounting.configure(load_config_data(config, "bench", ConfigSourceKind.FLAG))
    prompt = "def f(x):\n    return x\n" * 100
    timings = []
    for index in range(calls):
        record = UpstreamCall(time.time(), "coder", "org/coder", "together", "autocomplete",
                              "autocomplete", 800, 40, False, 0.2, 0.05, "ok", "stop", prompt)
        started = time.perf_counter()
        accounting.verdict("coder", "autocomplete")
        accounting.observe(record)
        timings.append((time.perf_counter() - started) * 1000)
        if index % 20 == 0:
            await asyncio.sleep(0)  # let the loop breathe like a server would
    flushed = await asyncio.to_thread(accounting.flush, 60)
    accounting.close()
    written = sum(line.requests for line in read_usage(accounting.ledger_path, 0))
    figures: dict[str, Any] = {
        "calls": calls,
        "accounting_p50_ms": round(statistics.median(timings), 4),
        "accounting_p95_ms": round(pct(timings, 0.95), 4),
        "accounting_p99_ms": round(pct(timings, 0.99), 4),
        "rows_written": written,
        "all_written": flushed and written == calls,
        "audit_lines": sum(1 for _ in (state / "audit.jsonl").open()),
    }
    figures["targets"] = TARGETS
    figures["met"] = {k: figures[k] <= v for k, v in TARGETS.items()}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(asyncio.run(run(args.calls, Path(tmp))), indent=2))


if __name__ == "__main__":
    main()
