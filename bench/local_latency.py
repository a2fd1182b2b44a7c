"""Keystroke latency of the bundled local models: prints one JSON object.

For each installed bundled model (``--models``), a ``bytebuddy-ls`` process serves it
with its embedded-default settings. A real file (a function of the Python standard
library) is opened, a few of its lines are removed, and they are typed back one
character at a time; after each character the editor asks for an automatic inline
completion (debounce included) and waits for the answer before typing on. Latency is
client side, request to answer. The first completion (model load, plus assembly into the
cache on a fresh machine) is reported apart.

What makes keystrokes cheap (see ``features/autocomplete.py``): typing along a
suggestion is served from it; otherwise llama.cpp reuses the KV cache of the previous
prompt, whose beginning stays identical (``cut_context(stable_start=True)``), so only the
cursor line, a short FIM suffix and the answer are computed; single-line contexts stop
at the end of the line.

    python bench/local_latency.py [--models all|NAME,...] [--keystrokes N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from _lsp import running_server
from _stats import pct

TARGETS_P50_MS = {"gemma-3-270m": 250.0, "qwen2.5-coder-1.5b": 1000.0}
SOURCE = Path(sysconfig.get_paths()["stdlib"]) / "json" / "decoder.py"
# The lines typed back: inside JSONObject's loop, real code with calls and brackets.
TYPED_FROM = "            value, end = scan_once(s, end)"


def position_of(text: str, offset: int) -> tuple[int, int]:
    """LSP line and character of ``offset`` (the source is ASCII: code points are UTF-16
    units)."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset), offset - line_start


async def measure(model: str, keystrokes: int) -> dict[str, Any]:
    from bytebuddy_ls.config.discovery import bundled_model_entry
    from bytebuddy_ls.inference.local import cache_dir

    text = SOURCE.read_text(encoding="utf-8")
    start = text.index(TYPED_FROM) + len(TYPED_FROM) - len(TYPED_FROM.lstrip())
    typed = text[start : start + keystrokes]
    document = text[:start] + text[start + keystrokes :]
    entry = bundled_model_entry(model)
    with tempfile.TemporaryDirectory(prefix="bytebuddy-latency-") as tmp:
        workdir = Path(tmp)
        config = workdir / "config.yaml"
        config.write_text(yaml.safe_dump({"models": [entry]}), encoding="utf-8")
        env = {"BYTEBUDDY_CACHE_DIR": str(cache_dir())}
        args = ["--config", str(config), "--log-level", "error"]
        async with running_server(cwd=workdir, args=args, env=env) as session:
            uri = (workdir / "json" / "decoder.py").as_uri()
            session.open(uri, document)
            started = time.perf_counter()
            await session.inline(uri, *position_of(document, start), invoked=True)
            first_ms = (time.perf_counter() - started) * 1000
            latencies: list[float] = []
            for index, char in enumerate(typed):
                position = position_of(document, start + index)
                document = document[: start + index] + char + document[start + index :]
                session.insert(uri, index + 2, *position, char)
                after = position_of(document, start + index + 1)
                started = time.perf_counter()
                await session.inline(uri, *after, invoked=False)
                latencies.append((time.perf_counter() - started) * 1000)
    return {
        "model": entry["name"],
        "context_length": entry["defaultCompletionOptions"].get("contextLength"),
        "first_completion_ms": round(first_ms, 1),
        "keystrokes": len(latencies),
        "p50_ms": round(pct(latencies, 0.5), 1),
        "p95_ms": round(pct(latencies, 0.95), 1),
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        "target_p50_ms": TARGETS_P50_MS.get(model),
    }


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    from bytebuddy_ls.config.discovery import installed_bundled_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--models", default="all", help="all | NAME[,NAME]")
    parser.add_argument("--keystrokes", type=int, default=40)
    args = parser.parse_args(argv)
    installed = installed_bundled_models()
    names = installed if args.models == "all" else args.models.split(",")
    load_before = os.getloadavg()[0]
    results = {}
    for name in names:
        if name not in installed:
            results[name] = {"skipped": "not installed"}
            continue
        results[name] = await measure(name, args.keystrokes)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_1m_before": round(load_before, 2),
            "load_1m_after": round(os.getloadavg()[0], 2),
        },
        "models": results,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    asyncio.run(main())
