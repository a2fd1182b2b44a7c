"""The workspace index: which files, chunks, BM25, updates, vectors."""

from __future__ import annotations

import os
from pathlib import Path

from bytebuddy_ls.workspace.bm25 import BM25Index
from bytebuddy_ls.workspace.files import FilePolicy, WalkReport, is_ignored, parse_ignore, walk
from bytebuddy_ls.workspace.index import WorkspaceIndex
from bytebuddy_ls.workspace.text import chunk_lines, terms
from bytebuddy_ls.workspace.vectors import VectorCache, VectorIndex, content_key


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def walked(root: Path, policy: FilePolicy | None = None) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in walk(root, policy or FilePolicy()))


def test_terms_split_identifiers_and_drop_keywords() -> None:
    found = terms("def getUserName(self): return MAX_LINE_LEN")
    assert "getusername" in found and {"get", "user", "name"} <= set(found)
    assert {"max", "line", "len", "max_line_len"} <= set(found)
    assert "def" not in found and "return" not in found and "self" not in found


def test_gitignore_rules_like_git(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "build/\n*.log\n!keep.log\n/top.txt\ndocs/**/*.tmp\n",
            "a.py": "x = 1\n",
            "app.log": "log\n",
            "keep.log": "kept\n",
            "top.txt": "anchored\n",
            "sub/top.txt": "not anchored here\n",
            "build/out.py": "generated\n",
            "src/build/x.py": "also a build dir\n",
            "docs/a/b/c.tmp": "tmp\n",
            "docs/a/b/c.md": "doc\n",
            "sub/.gitignore": "local.py\n",
            "sub/local.py": "ignored by the nested file\n",
            "other/local.py": "not ignored\n",
            "node_modules/pkg/index.js": "never\n",
        },
    )
    assert walked(tmp_path) == [
        ".gitignore",
        "a.py",
        "docs/a/b/c.md",
        "keep.log",
        "other/local.py",
        "sub/.gitignore",
        "sub/top.txt",
    ]
    assert is_ignored(tmp_path, tmp_path / "sub" / "local.py", FilePolicy())
    assert not is_ignored(tmp_path, tmp_path / "other" / "local.py", FilePolicy())
    assert is_ignored(tmp_path, tmp_path / "build" / "new.py", FilePolicy())


def test_excludes_size_cap_binary_and_file_cap(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "big.py": "x = 1\n" * 1000,
            "small.py": "y = 2\n",
            "image.png": b"\x89PNG\r\n\x1a\n",
            "secret/keys.py": "k = 3\n",
            "z.py": "z = 4\n",
        },
    )
    report = WalkReport()
    policy = FilePolicy(exclude=("secret/",), max_file_bytes=1000)
    assert sorted(p.name for p in walk(tmp_path, policy, report)) == ["small.py", "z.py"]
    assert report.too_large == 1 and report.binary == 1 and report.ignored == 1
    capped = WalkReport()
    assert len(list(walk(tmp_path, FilePolicy(max_files=2), capped))) == 2
    assert capped.over_limit >= 1


def test_binary_content_without_binary_suffix_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, {"data.txt": b"abc\x00def", "text.txt": "hello world\n"})
    index = WorkspaceIndex(tmp_path)
    index.build()
    assert [p.name for p in index.files()] == ["text.txt"]


def test_parse_ignore_skips_comments_and_blank_lines() -> None:
    rules = parse_ignore(["# comment", "", "  ", "*.o"])
    assert len(rules) == 1


def test_chunks_cut_before_definitions_and_cover_the_file() -> None:
    text = "\n".join(
        [
            f"def f{i}():\n" + "\n".join(f"    x{i}_{j} = {j}" for j in range(30)) + "\n"
            for i in range(4)
        ]
    )
    chunks = chunk_lines(text)
    assert len(chunks) >= 3
    assert all(c.text.startswith("def ") for c in chunks)
    assert chunks[0].start_line == 0 and chunks[-1].end_line >= text.count("\n")


def test_bm25_ranks_rare_terms_and_forgets_removed_chunks() -> None:
    index = BM25Index()
    a = index.add(terms("def parse_config(path): load yaml config"))
    b = index.add(terms("def render_chart(data): draw bars"))
    c = index.add(terms("def save(data): write file"))
    assert index.search(terms("yaml config"))[0][0] == a
    assert index.search(terms("chart bars"))[0][0] == b
    index.remove(b, terms("def render_chart(data): draw bars"))
    assert all(cid != b for cid, _ in index.search(terms("chart bars data")))
    assert len(index) == 2
    # Removing many compacts the postings; search still answers correctly.
    for _ in range(20):
        cid = index.add(terms("temporary chunk"))
        index.remove(cid, terms("temporary chunk"))
    assert index.search(terms("write file"))[0][0] == c
    assert index.search(terms("temporary")) == []


def test_index_updates_after_edit_and_delete(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "def alpha_handler():\n    pass\n", "b.py": "def beta():\n    pass\n"})
    index = WorkspaceIndex(tmp_path)
    status = index.build()
    assert status.state == "ready" and status.files == 2
    assert [h.path.name for h in index.search("alpha handler")] == ["a.py"]

    (tmp_path / "a.py").write_text("def gamma_router():\n    pass\n", encoding="utf-8")
    os.utime(tmp_path / "a.py", ns=(1, 1))  # a different mtime even on coarse clocks
    assert index.update(tmp_path / "a.py")
    assert index.search("alpha handler") == []
    assert [h.path.name for h in index.search("gamma router")] == ["a.py"]

    (tmp_path / "b.py").unlink()
    index.update(tmp_path / "b.py")
    assert index.search("beta") == []
    assert index.status.files == 1


def test_a_file_changed_behind_the_index_is_not_served_stale(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "def alpha_handler():\n    pass\n"})
    index = WorkspaceIndex(tmp_path)
    index.build()
    (tmp_path / "a.py").write_text("def other():\n    pass\n", encoding="utf-8")
    assert index.search("alpha handler") == []  # stale hit dropped, file re-indexed
    assert [h.path.name for h in index.search("other")] == ["a.py"]


def test_open_document_text_wins_over_disk(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "def on_disk():\n    pass\n"})
    texts = {tmp_path / "a.py": "def in_editor():\n    pass\n"}
    index = WorkspaceIndex(tmp_path, open_text=lambda p: texts.get(p))
    index.build()
    assert [h.text for h in index.search("in_editor")] == ["def in_editor():\n    pass"]


def test_vector_cache_persists_by_content_key(tmp_path: Path) -> None:
    cache = VectorCache(tmp_path / "v.sqlite")
    key = content_key("model-a", "hello")
    assert content_key("model-b", "hello") != key
    cache.put_many([(key, [1.0, 0.0, 0.5])])
    cache.close()
    again = VectorCache(tmp_path / "v.sqlite")
    assert list(again.get_many([key])[key]) == [1.0, 0.0, 0.5]
    assert again.get_many([content_key("model-a", "other")]) == {}


def test_vector_index_cosine_order() -> None:
    vectors = VectorIndex()
    vectors.set(1, [1.0, 0.0])
    vectors.set(2, [0.7, 0.7])
    vectors.set(3, [0.0, 1.0])
    assert [cid for cid, _ in vectors.search([0.1, 1.0], 2)] == [3, 2]
    vectors.remove(3)
    assert [cid for cid, _ in vectors.search([0.1, 1.0], 1)] == [2]


class CountingEmbedder:
    """A deterministic embedder: bag of known words (enough to test caching and fusion)."""

    remote = False
    batch_size = 4
    key = "test:bag"
    words = ("parse", "config", "chart", "render", "save", "file")

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    async def embed(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        return [[float(t.lower().count(w)) + 0.01 for w in self.words] for t in texts]


async def test_embeddings_are_cached_by_content_hash(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    write(
        root, {"a.py": "def parse_config():\n    pass\n", "b.py": "def render_chart():\n    pass\n"}
    )
    cache_path = tmp_path / "cache.sqlite"
    embedder = CountingEmbedder()
    index = WorkspaceIndex(root)
    index.build()
    index.set_embedder(embedder, VectorCache(cache_path))
    assert await index.embed_pending() == 2
    assert index.status.embedded == 2
    hits = index.search("anything", query_vector=[0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    assert hits[0].path.name == "b.py" and hits[0].semantic_rank == 0

    # A second index (a restart) embeds nothing again; a changed file only itself.
    second_embedder = CountingEmbedder()
    second = WorkspaceIndex(root)
    second.build()
    second.set_embedder(second_embedder, VectorCache(cache_path))
    assert await second.embed_pending() == 0 and second_embedder.texts == 0
    (root / "a.py").write_text("def save_file():\n    pass\n", encoding="utf-8")
    os.utime(root / "a.py", ns=(1, 1))
    second.update(root / "a.py")
    assert await second.embed_pending() == 1 and second_embedder.texts == 1
