"""Cheap cross-file context: definitions, imports, recent edits, similar tabs, rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from bytebuddy_ls.documents import Document
from bytebuddy_ls.prompting.fim import build_autocomplete_prompt, context_as_comments
from bytebuddy_ls.workspace.crossfile import CrossFileContext
from bytebuddy_ls.workspace.symbols import definitions, imports, resolve_import

PY_MODULE = '''"""Geometry helpers."""

import math

SCALE = 2


def distance(a: "Point", b: "Point",
             *, squared: bool = False) -> float:
    """Euclidean distance between two points."""
    dx = a.x - b.x
    return math.hypot(dx, a.y - b.y)


class Point:
    """A point in the plane."""

    x: float
    y: float

    def __init__(self, x: float, y: float) -> None:
        self.x = x
        self.y = y

    def moved(self, dx: float) -> "Point":
        return Point(self.x + dx, self.y)

    def _helper(self):
        def inner():
            pass
'''


def test_python_definitions_show_signatures_not_bodies() -> None:
    found = {d.name: d for d in definitions(PY_MODULE, "python")}
    assert {"SCALE", "distance", "Point", "__init__", "moved"} <= set(found)
    assert "inner" not in found
    distance = found["distance"].snippet
    assert distance.startswith('def distance(a: "Point", b: "Point",\n')
    assert "squared: bool = False) -> float:" in distance
    assert '"""Euclidean distance between two points."""' in distance
    assert "math.hypot" not in distance and distance.endswith("...")
    point = found["Point"].snippet
    assert "def __init__(self, x: float, y: float) -> None:" in point
    assert 'def moved(self, dx: float) -> "Point":' in point
    assert "x: float" in point and "self.x = x" not in point


def test_typescript_go_rust_definitions() -> None:
    ts = (
        "export interface User {\n  id: number;\n  name: string;\n}\n\n"
        "export async function loadUser(id: number): Promise<User> {\n  return fetch(id);\n}\n"
        "export const formatName = (u: User) => u.name;\n"
        "class Store {\n  get(key: string): User {\n    return this.m[key];\n  }\n}\n"
    )
    names = {d.name: d for d in definitions(ts, "typescript")}
    assert {"User", "loadUser", "formatName", "Store", "get"} <= set(names)
    assert "name: string;" in names["User"].snippet
    assert "return fetch" not in names["loadUser"].snippet
    go = (
        "package x\n\nfunc (s *Server) Handle(w Writer) error {\n\treturn nil\n}\n\n"
        "type Server struct {\n\taddr string\n}\n"
    )
    assert {d.name for d in definitions(go, "go")} >= {"Handle", "Server"}
    rust = (
        "pub struct Config {\n    pub path: String,\n}\n\n"
        "pub fn load(path: &str) -> Config {\n    todo!()\n}\n"
    )
    assert {d.name for d in definitions(rust, "rust")} >= {"Config", "load"}


def test_python_imports_resolve_to_workspace_files(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "geometry.py").write_text(PY_MODULE)
    (tmp_path / "pkg" / "util.py").write_text("def helper():\n    pass\n")
    main = tmp_path / "pkg" / "main.py"
    text = (
        "import os\nfrom pkg.geometry import distance as dist, Point\n"
        "from . import util\nfrom .util import helper\n"
    )
    found = imports(text, "python")
    assert found[1].names == (("distance", "dist"), ("Point", "Point"))
    resolved = {p.name for item in found for p in resolve_import(item, main, tmp_path, "python")}
    assert resolved >= {"geometry.py", "util.py"}
    assert "os.py" not in resolved


def test_js_imports_resolve_with_extensions(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "math.ts").write_text("export function add(a: number, b: number) {}\n")
    (tmp_path / "lib" / "index.ts").write_text("export const x = 1;\n")
    main = tmp_path / "main.ts"
    text = (
        "import { add } from './lib/math';\nimport * as lib from './lib';\n"
        "import React from 'react';\n"
    )
    found = imports(text, "typescript")
    resolved = [
        p.name for item in found for p in resolve_import(item, main, tmp_path, "typescript")
    ]
    assert resolved == ["math.ts", "index.ts"]


def _doc(path: Path, text: str, language: str = "python", version: int = 1) -> Document:
    return Document(path.as_uri(), text, version, language)


def test_definition_from_an_imported_file_reaches_the_context(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(PY_MODULE)
    b_text = (
        "from a import distance, Point\n\n\ndef main():\n    p = Point(1, 2)\n    d = distance("
    )
    current = _doc(tmp_path / "b.py", b_text)
    context = CrossFileContext(lambda: [current], lambda: tmp_path)
    result = context.gather(current, len(b_text), 400)
    by_symbol = {s.symbol: s for s in result.snippets}
    assert {"distance", "Point"} <= set(by_symbol)
    assert by_symbol["distance"].path == "a.py" and by_symbol["distance"].kind == "definition"
    # The name right before the cursor ranks first.
    assert result.snippets[0].symbol == "distance"
    # A budget too small for anything says so.
    tight = context.gather(current, len(b_text), 5)
    assert tight.snippets == [] and tight.reason is not None and "budget" in tight.reason


def test_aliases_open_tabs_recent_edits_and_similar_code(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(PY_MODULE)
    other_text = (
        "def summarize_orders(orders, customer_id):\n"
        "    total = sum(order.amount for order in orders if order.customer == customer_id)\n"
        "    return round(total, 2)\n"
    )
    other = _doc(tmp_path / "orders.py", other_text)
    current_text = (
        "from a import distance as dist\n\n"
        "def report(orders, customer_id):\n"
        "    total = sum(order.amount for order in orders if order.customer == customer_id)\n"
        "    x = dist("
    )
    current = _doc(tmp_path / "b.py", current_text)
    context = CrossFileContext(lambda: [current, other], lambda: tmp_path)
    result = context.gather(current, len(current_text), 1000)
    kinds = {(s.kind, s.symbol) for s in result.snippets}
    assert ("definition", "distance") in kinds  # through the alias "dist"
    similar = [s for s in result.snippets if s.kind == "similar"]
    assert [s.path for s in similar] == ["orders.py"] and 0 < similar[0].score < 0.5

    # A recent edit in the other tab covers the same lines: shown once, as the edit.
    context.recent.record(other.uri, 1)
    result = context.gather(current, len(current_text), 1000)
    about_orders = [s for s in result.snippets if s.path == "orders.py"]
    assert [s.kind for s in about_orders] == ["recent-edit"]
    assert result.selection.duplicates >= 1


def test_nothing_relevant_says_why(tmp_path: Path) -> None:
    current = _doc(tmp_path / "b.py", "x = 1\ny = x + ")
    result = CrossFileContext(lambda: [current], lambda: tmp_path).gather(current, 13, 500)
    assert result.snippets == [] and result.reason is not None
    assert result.reason.startswith("nothing relevant")


CTX = [("pkg/a.py", "def add(a, b):\n    ...")]


@pytest.mark.parametrize(
    ("model", "repo_name", "expected", "context_format"),
    [
        (
            "Qwen/Qwen2.5-Coder-7B",
            "demo",
            "<|repo_name|>demo\n<|file_sep|>pkg/a.py\ndef add(a, b):\n    ...\n"
            "<|file_sep|>b.py\n<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>",
            "qwen",
        ),
        (
            "bigcode/starcoder2-15b",
            None,
            "<file_sep>pkg/a.py\ndef add(a, b):\n    ...\n"
            "<file_sep><fim_prefix>b.py\nx = <fim_suffix>\n<fim_middle>",
            "starcoder2",
        ),
        (
            "bigcode/starcoderbase-1b",
            None,
            "<fim_prefix># Path: pkg/a.py\n# def add(a, b):\n#     ...\n"
            "x = <fim_suffix>\n<fim_middle>",
            "comments",
        ),
        (
            "google/codegemma-2b",
            None,
            "<|file_separator|>pkg/a.py\ndef add(a, b):\n    ...\n"
            "<|file_separator|>b.py\n<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>",
            "codegemma",
        ),
    ],
    ids=["qwen-repo", "starcoder2-repo", "starcoder1-comments", "codegemma-file-separator"],
)
def test_multi_file_context_format(
    model: str, repo_name: str | None, expected: str, context_format: str
) -> None:
    prompt = build_autocomplete_prompt(
        model, "x = ", "\n", filename="b.py", language="python", repo_name=repo_name, context=CTX
    )
    assert prompt.prompt == expected
    assert prompt.context_format == context_format


def test_no_context_leaves_prompts_unchanged() -> None:
    for model in ("bigcode/starcoder2-15b", "google/codegemma-2b", "Qwen/Qwen2.5-Coder-7B"):
        plain = build_autocomplete_prompt(model, "a", "b", filename="f.py", language="python")
        empty = build_autocomplete_prompt(
            model, "a", "b", filename="f.py", language="python", context=()
        )
        assert plain == empty and plain.context_format is None


def test_comments_follow_the_language() -> None:
    assert context_as_comments(CTX, "lua").startswith("-- Path: pkg/a.py\n-- def add")
    assert context_as_comments(CTX, "typescript").startswith("// Path: pkg/a.py")
    html = context_as_comments([("x.html", "<!-- a --> b")], "html")
    assert html.startswith("<!-- Path: x.html") and html.count("-->") == 1


def test_chat_autocomplete_gets_a_context_block() -> None:
    prompt = build_autocomplete_prompt(
        "meta-llama/Llama-3.1-8B-Instruct",
        "x = ",
        "",
        filename="b.py",
        language="python",
        context=CTX,
    )
    assert prompt.kind == "chat" and prompt.context_format == "chat"
    assert '<FILE path="pkg/a.py">\ndef add(a, b):\n    ...\n</FILE>' in prompt.messages[-1][1]


def test_context_for_file_is_the_servers_selection(tmp_path: Path) -> None:
    from bytebuddy_ls.workspace.crossfile import context_for_file

    (tmp_path / "a.py").write_text(PY_MODULE)
    text = "from a import distance\n\nd = distance("
    pairs = context_for_file(tmp_path / "b.py", text, len(text), root=tmp_path, budget_tokens=300)
    assert pairs and pairs[0][0] == "a.py" and pairs[0][1].startswith("def distance(")


def test_the_file_being_completed_is_never_its_own_context(tmp_path: Path) -> None:
    # The editor opened the workspace through a symlink (macOS /tmp, a linked home); the
    # file imports its own package ('.' names index.ts). Its disk copy holds the text the
    # user is replacing: offering it as "another file" would show stale code.
    real = tmp_path / "real"
    (real / "pkg").mkdir(parents=True)
    on_disk = "export function staleOnDisk(a: number): number {\n  return a;\n}\n"
    (real / "pkg" / "index.ts").write_text(on_disk)
    (real / "pkg" / "other.ts").write_text("export function helper(x: number) {}\n")
    (tmp_path / "link").symlink_to(real)
    root = tmp_path / "link"
    current = root / "pkg" / "index.ts"
    text = (
        "import { staleOnDisk } from '.';\nimport { helper } from './other';\n\n"
        "export const y = helper(staleOnDisk("
    )
    for item in imports(text, "typescript"):
        assert current.resolve() not in [
            p.resolve() for p in resolve_import(item, current, root, "typescript")
        ]
    document = _doc(current, text, "typescript")
    context = CrossFileContext(lambda: [document], lambda: root)
    result = context.gather(document, len(text), 400)
    assert [s.symbol for s in result.snippets] == ["helper"]
    assert all("staleOnDisk" not in s.text for s in result.snippets)
