"""Retrieval quality on a small fixed repository with known answers (recall@5).

``tests/fixtures/context_repo`` holds 15 small modules; each question of
``context_repo_questions.json`` names the one file that answers it, in words that only
partly overlap with the code. The figures are printed (pytest -s) and bounded below."""

from __future__ import annotations

import json
from pathlib import Path

from bytebuddy_ls.workspace.embedders import LocalEmbedder
from bytebuddy_ls.workspace.index import WorkspaceIndex
from bytebuddy_ls.workspace.vectors import VectorCache

FIXTURES = Path(__file__).parent / "fixtures"
REPO = FIXTURES / "context_repo"
QUESTIONS = json.loads((FIXTURES / "context_repo_questions.json").read_text())


def recall_at(index: WorkspaceIndex, k: int, vectors: list[list[float]] | None = None) -> float:
    found = 0
    for number, item in enumerate(QUESTIONS):
        query_vector = vectors[number] if vectors is not None else None
        hits = index.search(item["question"], limit=k, query_vector=query_vector)
        paths = [hit.path.relative_to(REPO).as_posix() for hit in hits]
        found += item["answer"] in paths
    return found / len(QUESTIONS)


def test_bm25_recall_at_5() -> None:
    index = WorkspaceIndex(REPO)
    assert index.build().files == 15
    recall = recall_at(index, 5)
    top1 = recall_at(index, 1)
    print(f"\nBM25 recall@5 = {recall:.2f}, recall@1 = {top1:.2f} ({len(QUESTIONS)} questions)")
    assert recall >= 0.9 and top1 >= 0.7


async def test_hybrid_recall_at_5_with_the_local_embedder(tmp_path: Path) -> None:
    embedder = LocalEmbedder()
    index = WorkspaceIndex(REPO)
    index.build()
    index.set_embedder(embedder, VectorCache(tmp_path / "vectors.sqlite"))
    await index.embed_pending()
    vectors = await embedder.embed([item["question"] for item in QUESTIONS])
    recall = recall_at(index, 5, vectors)
    top1 = recall_at(index, 1, vectors)
    print(f"\nBM25+MiniLM recall@5 = {recall:.2f}, recall@1 = {top1:.2f}")
    assert recall >= 0.9 and top1 >= 0.8
