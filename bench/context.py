"""Workspace context benchmark: prints one JSON object of figures.

- ``index_*``: a generated 10,000-file Python repository (deterministic, made here, no
  download; a ``.gitignore``d build folder and binary files are skipped) indexed in a
  child process: files/s and the child's peak RSS;
- ``query_*``: BM25 search latency on that index (200 queries);
- ``autocomplete_context_*``: the real server and the loopback HF server, a file that
  imports another, five other tabs open: server overhead over a direct upstream call,
  with cross-file context in every prompt (checked);
- ``recall_at_5``: the fixed retrieval repository of the tests, with 500 generated
  distractor modules beside it.

    python bench/context.py [--quick] [--files N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "server"))

from _lsp import hf_process, lsp_server, overhead_rounds, tgi_config  # noqa: E402
from _stats import pct  # noqa: E402

TARGETS = {"query_p50_ms": 20.0, "autocomplete_context_overhead_p50_ms": 3.0}

WORDS = str.split(
    "account order invoice payment customer session token cache queue worker report "
    "schedule upload image thumbnail profile address shipment inventory product price "
    "discount coupon review rating message channel event metric alert backup archive "
    "export import parser lexer config setting feature flag tenant region cluster node"
)
VERBS = str.split("load save update delete compute render validate parse fetch sync merge split")


def module_text(rng: random.Random, number: int, modules: int) -> str:
    """One plausible module: imports of two others, a class, functions with docstrings."""
    a, b = rng.sample(WORDS, 2)
    lines = [f'"""{a.title()} {b} helpers (module {number})."""', ""]
    for other in rng.sample(range(modules), 2):
        lines.append(f"from pkg{other % 100}.mod{other} import {rng.choice(VERBS)}_{other}")
    lines += ["", ""]
    lines.append(f"class {a.title()}{b.title()}{number}:")
    lines.append(f'    """Keeps {a} and {b} records together."""')
    lines.append("")
    for _ in range(3):
        verb, noun = rng.choice(VERBS), rng.choice(WORDS)
        lines.append(f"    def {verb}_{noun}(self, {noun}_id: int) -> dict:")
        lines.append(f"        return {{'{noun}': {noun}_id, 'kind': '{a}'}}")
        lines.append("")
    lines.append("")
    for index in range(4):
        verb, noun = rng.choice(VERBS), rng.choice(WORDS)
        name = f"{verb}_{number}" if index == 0 else f"{verb}_{noun}_{index}"
        lines.append(f"def {name}({noun}: str, limit: int = 10) -> list[str]:")
        lines.append(f'    """{verb.title()} the {noun} entries of a {a}."""')
        lines.append(f"    items = [{noun}] * limit")
        lines.append(f"    return [item.upper() for item in items if '{b}' not in item]")
        lines += ["", ""]
    return "\n".join(lines)


def generate_repo(root: Path, files: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    for number in range(files):
        folder = root / f"pkg{number % 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{number}.py").write_text(module_text(rng, number, files))
    (root / ".gitignore").write_text("build/\n*.bin\n")
    (root / "build").mkdir(exist_ok=True)
    for number in range(200):
        (root / "build" / f"gen{number}.py").write_text("x = 1\n")
        (root / f"blob{number}.bin").write_bytes(bytes(range(256)) * 4)  # ignored
        (root / f"data{number}.dat").write_bytes(bytes(range(256)) * 4)  # binary content


def index_child(root: str, queries: int) -> None:
    """Runs in a child process: build, then query; prints JSON."""
    from bytebuddy_ls.workspace.index import WorkspaceIndex

    rng = random.Random(3)
    started = time.perf_counter()
    index = WorkspaceIndex(Path(root))
    status = index.build()
    seconds = time.perf_counter() - started
    timings = []
    for _ in range(queries):
        query = f"{rng.choice(VERBS)} the {rng.choice(WORDS)} of a {rng.choice(WORDS)}"
        t0 = time.perf_counter()
        index.search(query, limit=8)
        timings.append((time.perf_counter() - t0) * 1000)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "files": status.files,
                "chunks": status.chunks,
                "skipped_ignored": status.skipped.ignored,
                "skipped_binary": status.skipped.binary,
                "seconds": seconds,
                "peak_rss_mb": peak_kb / 1024,
                "query_p50_ms": statistics.median(timings),
                "query_p95_ms": pct(timings, 0.95),
            }
        )
    )


def index_figures(files: int, queries: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        started = time.perf_counter()
        generate_repo(root, files)
        generated_s = time.perf_counter() - started
        run = subprocess.run(
            [sys.executable, __file__, "--index-child", str(root), "--queries", str(queries)],
            capture_output=True,
            text=True,
            check=True,
        )
    child = json.loads(run.stdout)
    return {
        "index_files": child["files"],
        "index_chunks": child["chunks"],
        "index_skipped_ignored": child["skipped_ignored"],
        "index_skipped_binary": child["skipped_binary"],
        "index_seconds": round(child["seconds"], 2),
        "index_files_per_s": round(child["files"] / child["seconds"], 1),
        "index_peak_rss_mb": round(child["peak_rss_mb"], 1),
        "query_p50_ms": round(child["query_p50_ms"], 2),
        "query_p95_ms": round(child["query_p95_ms"], 2),
        "repo_generation_s": round(generated_s, 2),
    }


GEOMETRY = '''import math


def distance(a, b, *, squared=False):
    """Euclidean distance between two points."""
    return math.hypot(a.x - b.x, a.y - b.y)


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y
'''


async def autocomplete_figures(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "geometry.py").write_text(GEOMETRY)
        async with hf_process(workdir, reply="p, q)") as (base, http):
            # The cheap context only: what autocomplete uses.
            config = tgi_config(base, context={"index": False})
            async with lsp_server(workdir, {"config": config}) as lsp:
                for tab in range(5):
                    body = "\n".join(
                        f"def helper_{tab}_{i}(value):\n    return value * {i}\n" for i in range(60)
                    )
                    lsp.open((workdir / f"tab{tab}.py").as_uri(), body)
                uri = (workdir / "main.py").as_uri()
                lsp.open(uri, "from geometry import distance, Point\n\n\ndef far(p, q):\n    ")
                text = "return distance("
                direct, via_lsp = await overhead_rounds(
                    lsp,
                    http,
                    base,
                    uri=uri,
                    line=4,
                    column=4,
                    typed=lambda i: text[i] if i < len(text) else " ",
                    rounds=rounds,
                )
                recorded = (await http.get(f"{base}/_test/requests")).json()
                prompts = [
                    r["json"]["inputs"]
                    for r in recorded
                    if r["path"] == "/generate" and "<file_sep>" in r["json"]["inputs"]
                ]
                with_context = sum("<file_sep>geometry.py\n" in p for p in prompts)
    direct_p50, lsp_p50 = pct(direct, 0.5), pct(via_lsp, 0.5)
    return {
        "autocomplete_context_direct_http_p50_ms": round(direct_p50, 2),
        "autocomplete_context_lsp_p50_ms": round(lsp_p50, 2),
        "autocomplete_context_overhead_p50_ms": round(lsp_p50 - direct_p50, 2),
        "autocomplete_context_overhead_p95_ms": round(pct(via_lsp, 0.95) - pct(direct, 0.95), 2),
        "autocomplete_prompts_with_context": f"{with_context}/{rounds}",
    }


def recall_figures(distractors: int) -> dict[str, Any]:
    from bytebuddy_ls.workspace.index import WorkspaceIndex

    fixtures = ROOT / "tests" / "fixtures"
    questions = json.loads((fixtures / "context_repo_questions.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(fixtures / "context_repo", root)
        generate_repo(root / "distractors", distractors, seed=11)
        index = WorkspaceIndex(root)
        index.build()
        found = {1: 0, 5: 0}
        for item in questions:
            hits = index.search(item["question"], limit=5)
            paths = [hit.path.relative_to(root).as_posix() for hit in hits]
            found[5] += item["answer"] in paths
            found[1] += item["answer"] in paths[:1]
    return {
        "recall_at_5": round(found[5] / len(questions), 3),
        "recall_at_1": round(found[1] / len(questions), 3),
        "recall_questions": len(questions),
        "recall_repo_files": index.status.files,
    }


def main(quick: bool, files: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"quick": quick}
    figures.update(index_figures(files, 50 if quick else 200))
    figures.update(asyncio.run(autocomplete_figures(40 if quick else 150)))
    figures.update(recall_figures(100 if quick else 500))
    figures["targets"] = TARGETS
    figures["met"] = {key: figures[key] <= target for key, target in TARGETS.items()}
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller run (CI smoke)")
    parser.add_argument("--files", type=int, default=None, help="generated repository size")
    parser.add_argument("--index-child", help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.index_child:
        index_child(args.index_child, args.queries)
    else:
        size = args.files or (1000 if args.quick else 10_000)
        print(json.dumps(main(args.quick, size), indent=2))
