"""The completion-quality testbed (``bench/quality.py``), a 20-hole smoke run.

The model is the loopback HF server answering each hole with the text that was cut out
of it (an oracle), through the real server over LSP. A perfect model must score as
perfect: that checks hole cutting, LSP positions, inserting the server's answer at its
range, the parsers and the scoring, end to end. The real figures come from
``make quality``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from .hf_server import HFTestServer

ROOT = Path(__file__).resolve().parent.parent


def load_testbed() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quality_testbed", ROOT / "bench" / "quality.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


testbed = load_testbed()


def test_holes_are_fixed_by_the_seed_and_of_every_kind() -> None:
    corpus = testbed.corpora(["python"])["python"]
    first = testbed.draw_holes(corpus, 9, 17)
    assert first == testbed.draw_holes(corpus, 9, 17)
    assert first != testbed.draw_holes(corpus, 9, 18)
    assert {hole.kind for hole in first} == set(testbed.KINDS)
    for hole in first:
        original = hole.text[: hole.offset] + hole.expected + hole.text[hole.offset :]
        assert testbed.parses("python", original)
        assert hole.expected.strip() and hole.path.startswith("Lib/")
    block = next(hole for hole in first if hole.kind == "block")
    assert block.expected.count("\n") >= 1


def test_scores_of_known_answers() -> None:
    hole = testbed.Hole("python", "whole_line", "x.py", 2, "def f():\n    \n", 13, "return 1")
    right = testbed.score(testbed.Outcome(hole, "return 1", "def f():\n    return 1\n", 1.0))
    assert right["exact_match"] == right["syntax_valid"] == right["bracket_balance"] == 1.0
    wrong = testbed.score(testbed.Outcome(hole, "return (1", "def f():\n    return (1\n", 1.0))
    assert wrong["exact_match"] == wrong["syntax_valid"] == wrong["bracket_balance"] == 0.0
    assert 0.8 < wrong["edit_similarity"] < 1.0
    assert testbed.parses("javascript", "const a = [1, 2];\n")
    assert not testbed.parses("typescript", "const a: number = (1;\n")
    assert testbed.parses("c", "int add(int a, int b) { return a + b; }\n")


async def test_a_perfect_model_scores_perfectly(hf_server: HFTestServer, tmp_path: Path) -> None:
    holes = testbed.draw_holes(testbed.corpora(["python"])["python"], 20, 17)
    hf_server.script(reply="pass", times=1)  # the testbed's warm-up request
    for hole in holes:
        hf_server.script(reply=hole.expected, times=1)
    path = oracle_config(hf_server, tmp_path)
    report = await testbed.main(
        ["--limit", "20", "--languages", "python", "--config", str(path), "--json"]
    )
    assert report["holes"] == 20 and sum(report["kinds"].values()) == 20
    [run] = report["runs"]
    assert run["errors"] == 0 and run["empty"] == 0.0
    assert report["exact_match"] == 1.0, [s for s in run["samples"]]
    assert report["edit_similarity"] == 1.0 and report["syntax_valid"] == 1.0
    assert run["suffix_duplication"] == 0.0 and run["bracket_balance"] == 1.0
    assert {"prefix", "fim", "fim+context"}.isdisjoint({run["mode"]})
    assert "| oracle | default | 20 |" in report["table"]
    # Tokens from the server's usage records, one upstream call per hole.
    assert run["tokens_source"] in (testbed.SERVER_REPORTED, testbed.SERVER_ESTIMATE)
    assert all(h["prompt_tokens"] and h["prompt_tokens"] > 0 for h in run["per_hole"])
    assert run["prompt_tokens"] > run["completion_tokens"] > 0
    assert "Router model configuration: not run" not in report["table"]  # it ran one
    # No workspace context in the other modes: no snippet of another file was sent.
    prompts = sent_prompts(hf_server)
    assert len(prompts) == 21 and not any("<file_sep>" in p for p in prompts)


def sent_prompts(hf_server: HFTestServer) -> list[str]:
    """The raw prompts the server sent upstream, in order."""
    return [
        r.json["inputs"]
        for r in hf_server.requests
        if isinstance(r.json, dict) and isinstance(r.json.get("inputs"), str)
    ]


def oracle_config(hf_server: HFTestServer, tmp_path: Path) -> Path:
    config: dict[str, Any] = {
        "models": [
            {
                "name": "oracle",
                "provider": "huggingface-tgi",
                "model": "bigcode/starcoder2-3b",
                "apiBase": hf_server.url,
                "apiKey": "test-key",
                "roles": ["autocomplete"],
                "defaultCompletionOptions": {"maxTokens": 512},
            }
        ]
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


async def test_fim_with_context_sends_other_files_of_the_workspace(
    hf_server: HFTestServer, tmp_path: Path
) -> None:
    # Each hole's file is opened at its real path in the standard library, which is the
    # workspace folder: the FIM prompt carries definitions from the files it imports
    # (StarCoder2's <file_sep> format), and never the file's own text from the disk.
    corpus = testbed.corpora(["python"])["python"]
    holes = testbed.draw_holes(corpus, 6, 17)
    hf_server.script(reply="pass", times=1)
    for hole in holes:
        hf_server.script(reply=hole.expected, times=1)
    report = await testbed.main(
        ["--limit", "6", "--languages", "python", "--modes", "fim+context",
         "--config", str(oracle_config(hf_server, tmp_path)), "--json"]
    )
    [run] = report["runs"]
    assert run["mode"] == "fim+context" and run["context"] == "workspace"
    assert run["errors"] == 0 and run["exact_match"] == 1.0
    workspace = run["context_root"]["python"]
    assert workspace["root"] == str(corpus.workspace) and workspace["index"]["state"] == "ready"
    assert workspace["index"]["files"] > 1000 and workspace["index"]["skipped"]["overLimit"] == 0
    prompts = sent_prompts(hf_server)
    assert len(prompts) == 1 + len(holes)
    with_context = 0
    for hole, prompt in zip(holes, prompts[1:], strict=True):
        own = Path(hole.source).relative_to(corpus.workspace).as_posix()
        if "<file_sep>" not in prompt:  # nothing relevant found for this hole
            continue
        *others, current = prompt.split("<file_sep>")[1:]
        assert current.startswith(f"<fim_prefix>{own}\n"), current[:80]
        for section in others:
            path, _, text = section.partition("\n")
            assert path != own
            on_disk = (corpus.workspace / path).read_text(encoding="utf-8")
            # A snippet of that other file (definitions are shown with bodies elided).
            shown = [line.strip() for line in text.split("\n") if line.strip() != "..."]
            file_lines = {line.strip() for line in on_disk.split("\n")}
            assert any(shown) and set(shown) <= file_lines, (path, text)
            if hole.expected.strip() in text:  # only where that other file has it too
                assert hole.expected.strip() in on_disk
            with_context += 1
    assert with_context >= 3, prompts


@pytest.mark.parametrize("mode", ["fim", "fim+context"])
def test_modes_that_do_not_apply_say_why(mode: str) -> None:
    gemma = testbed.Target("g", {"name": "g", "provider": "llamacpp", "model": "gemma-3-270m"})
    reason = testbed.mode_entry(gemma, mode)
    assert isinstance(reason, str) and ("n/a" in reason or "not run" in reason)
    qwen = testbed.Target("q", {"name": "q", "provider": "llamacpp", "model": "qwen2.5-coder-1.5b"})
    assert isinstance(testbed.mode_entry(qwen, "fim"), dict)
    prefix = testbed.mode_entry(qwen, "prefix")
    assert isinstance(prefix, dict) and prefix["promptTemplates"]["autocomplete"] == "{{{prefix}}}"
