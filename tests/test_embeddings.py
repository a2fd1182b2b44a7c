"""Embeddings from each protocol (loopback server), the local embedder, and semantic
search end to end through the index."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from bytebuddy_ls.inference import InferenceClient, ProtocolError
from bytebuddy_ls.inference.embeddings import embed_target, parse_response
from bytebuddy_ls.inference.routing import Router
from bytebuddy_ls.workspace.embedders import (
    LocalEmbedder,
    RemoteEmbedder,
    local_embedder_missing,
)
from bytebuddy_ls.workspace.index import WorkspaceIndex
from bytebuddy_ls.workspace.vectors import VectorCache

from .hf_server import HFTestServer, embedding_for
from .inference_support import make_model

TEXTS = ["def parse_config(path): read the yaml file", "draw a bar chart"]


def close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, abs_tol=1e-6) for x, y in zip(a, b, strict=False)
    )


@pytest.mark.parametrize(
    ("provider", "model_id", "base", "path"),
    [
        (
            "huggingfaceinferenceapi",
            "sentence-transformers/all-MiniLM-L6-v2",
            None,
            "/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction",
        ),
        ("huggingfaceinferenceapi", "BAAI/bge-m3:together", None, "/together/v1/embeddings"),
        (
            "huggingfaceinferenceapi",
            "BAAI/bge-m3:deepinfra",
            None,
            "/deepinfra/v1/openai/embeddings",
        ),
        ("huggingfaceinferenceapi", "my-endpoint", "SERVER", "/embed"),
        ("huggingface-tgi", "BAAI/bge-small-en-v1.5", "SERVER", "/embed"),
        ("openai", "text-embedding-3-small", "SERVER", "/v1/embeddings"),
        ("openai", "nomic-embed-text", "SERVER/v1", "/v1/embeddings"),
    ],
)
async def test_each_protocol_returns_vectors_in_input_order(
    hf_server: HFTestServer,
    hf_router_client: InferenceClient,
    provider: str,
    model_id: str,
    base: str | None,
    path: str,
) -> None:
    model = make_model(
        base.replace("SERVER", hf_server.url) if base else None,
        provider=provider,
        model=model_id,
        roles=["embed"],
        apiKey="test-key",
    )
    vectors = await hf_router_client.embed(model, TEXTS)
    (request,) = hf_server.requests
    assert request.path == path
    assert request.headers.get("Authorization") == "[REDACTED]"  # the key was sent
    assert [close(v, embedding_for(t)) for v, t in zip(vectors, TEXTS, strict=False)] == [
        True,
        True,
    ]
    body = request.json
    if path.endswith("/embeddings"):
        expected_model = model_id.split(":")[0] if base is None else model_id
        assert body == {"model": expected_model, "input": TEXTS}
    else:
        assert body == {"inputs": TEXTS, "normalize": True, "truncate": True}


async def test_embedding_errors_are_inference_errors(
    hf_server: HFTestServer, hf_router_client: InferenceClient
) -> None:
    model = make_model(hf_server.url, provider="huggingface-tgi", model="m", roles=["embed"])
    hf_server.script(status=401, match_path="/embed")
    with pytest.raises(Exception) as info:
        await hf_router_client.embed(model, ["x"])
    assert type(info.value).__name__ == "AuthError"
    hf_server.reset()
    hf_server.script(body={"unexpected": True}, match_path="/embed")
    with pytest.raises(ProtocolError):
        await hf_router_client.embed(model, ["x"])


def test_parse_response_checks_shapes() -> None:
    target = embed_target(make_model("http://127.0.0.1:1", model="m"), Router())
    with pytest.raises(ProtocolError):
        parse_response(target, [[1.0, 2.0]], 2)  # one vector for two texts
    with pytest.raises(ProtocolError):
        parse_response(target, [[1.0, 2.0], [1.0]], 2)  # ragged
    with pytest.raises(ProtocolError):
        parse_response(target, [["a"]], 1)
    # Token-level output (no pooling) is mean-pooled.
    assert parse_response(target, [[[1.0, 3.0], [3.0, 5.0]]], 1) == [[2.0, 4.0]]


async def test_semantic_search_through_a_remote_embedder(
    hf_server: HFTestServer, hf_router_client: InferenceClient, tmp_path: Path
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "config_loader.py").write_text("def load(path):\n    return yaml.safe_load(path)\n")
    (root / "charts.py").write_text("def draw(data):\n    return bar chart of data\n")
    model = make_model(hf_server.url, provider="huggingface-tgi", model="m", roles=["embed"])
    embedder = RemoteEmbedder(hf_router_client, model)
    assert embedder.key.endswith(":m")
    index = WorkspaceIndex(root)
    index.build()
    index.set_embedder(embedder, VectorCache(tmp_path / "vectors.sqlite"))
    assert await index.embed_pending() == 2
    query = (await embedder.embed(["bar chart"]))[0]
    hits = index.search("nothing lexical matches", query_vector=query)
    assert hits[0].path.name == "charts.py" and hits[0].semantic_rank == 0


def test_the_local_embedder_packages_are_installed_by_make_install() -> None:
    # `make install` installs the `embed` extra: the local embedder must be testable.
    assert local_embedder_missing() is None


async def test_local_embedder_ranks_related_code_first() -> None:
    embedder = LocalEmbedder()
    texts = [
        "def read_config(path):\n    with open(path) as f:\n        return yaml.safe_load(f)",
        "def plot_histogram(values):\n    plt.hist(values)\n    plt.show()",
        "class HttpClient:\n    def get(self, url): return requests.get(url)",
    ]
    vectors = await embedder.embed(texts)
    assert len(vectors) == 3 and len(vectors[0]) == 384
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-4)
    (query,) = await embedder.embed(["load settings from a yaml file"])

    def cosine(v: list[float]) -> float:
        return sum(a * b for a, b in zip(query, v, strict=False))

    scores: list[Any] = [cosine(v) for v in vectors]
    assert scores.index(max(scores)) == 0
