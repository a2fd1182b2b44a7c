"""Embeddings (feature extraction) wire formats: where a model with the ``embed`` role is
asked for vectors, the body sent and how the answer is read.

- router, hf-inference (no provider, or ``id:hf-inference``):
  ``POST {router}/hf-inference/models/{id}/pipeline/feature-extraction``
  ``{"inputs": [...], "normalize": true, "truncate": true}`` → ``[[float, ...], ...]``;
- router, another provider (``id:together``, ``:deepinfra``, ``:scaleway``, …):
  the provider's OpenAI-compatible route under ``{router}/{provider}``
  (``/v1/embeddings``; deepinfra ``/v1/openai/embeddings``) ``{"model", "input"}`` →
  ``{"data": [{"embedding": [...], "index": i}]}``;
- provider ``huggingface-tgi``, or an Inference Endpoint / custom ``apiBase`` (Text
  Embeddings Inference): ``POST {apiBase}/embed``, same body as hf-inference; a base
  ending in ``/v1`` is OpenAI-compatible;
- provider ``openai``: ``POST {apiBase}/v1/embeddings``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from ..config.schema import ModelConfig
from .errors import ProtocolError, UnsupportedOperationError
from .openai_compat import join_v1
from .routing import Router, is_endpoint_url, split_provider

EmbedProtocol = Literal["feature-extraction", "openai"]

# Providers whose OpenAI-compatible embeddings route is not ``/v1/embeddings``.
_PROVIDER_ROUTES = {"deepinfra": "/v1/openai/embeddings"}
_POLICIES = frozenset({"fastest", "cheapest", "preferred", "auto"})


@dataclass(frozen=True)
class EmbedTarget:
    protocol: EmbedProtocol
    url: str
    model_field: str  # the OpenAI ``"model"`` value ("" for feature-extraction)
    provider: str  # who serves it, for the call records


def embed_target(model: ModelConfig, router: Router) -> EmbedTarget:
    if model.is_local:
        raise UnsupportedOperationError(
            "provider 'llamacpp' does not compute embeddings; use an embeddings server or "
            "the bundled local embedder (context.embeddings: local)",
            model=model.name,
            model_id=model.model,
        )
    base = router.base(model)
    if router.is_router(model):
        bare, provider = split_provider(model.model)
        if provider is None or provider in _POLICIES or provider == "hf-inference":
            url = f"{base}/hf-inference/models/{quote(bare, safe='/')}/pipeline/feature-extraction"
            return EmbedTarget("feature-extraction", url, "", "hf-inference")
        route = _PROVIDER_ROUTES.get(provider, "/v1/embeddings")
        return EmbedTarget("openai", f"{base}/{provider}{route}", bare, provider)
    served_by = (
        "endpoint" if is_endpoint_url(base) else ("openai" if model.provider == "openai" else "tgi")
    )
    if model.provider == "openai" or base.endswith("/v1"):
        return EmbedTarget("openai", join_v1(base, "embeddings"), model.model, served_by)
    return EmbedTarget("feature-extraction", f"{base}/embed", "", served_by)


def request_body(target: EmbedTarget, texts: list[str]) -> dict[str, Any]:
    if target.protocol == "openai":
        return {"model": target.model_field, "input": texts}
    return {"inputs": texts, "normalize": True, "truncate": True}


def parse_response(target: EmbedTarget, data: Any, count: int) -> list[list[float]]:
    """One vector per input text, in input order; ProtocolError when the answer is not
    that shape (wrong count, ragged or non-numeric vectors, token-level output)."""
    if target.protocol == "openai":
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError("embeddings answer has no 'data' list")
        ordered = sorted(
            items, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0
        )
        vectors: list[Any] = [
            item.get("embedding") if isinstance(item, dict) else None for item in ordered
        ]
    else:
        if not isinstance(data, list):
            raise ProtocolError("feature-extraction answer is not a list of vectors")
        # A model without pooling answers per token: [[[...], ...], ...]; mean-pool it.
        vectors = [
            _mean_pool(v) if isinstance(v, list) and v and isinstance(v[0], list) else v
            for v in data
        ]
    if len(vectors) != count:
        raise ProtocolError(f"embeddings answer has {len(vectors)} vectors for {count} inputs")
    out: list[list[float]] = []
    for vector in vectors:
        if not isinstance(vector, list) or not vector:
            raise ProtocolError("embeddings answer holds an empty or non-list vector")
        try:
            floats = [float(x) for x in vector]
        except (TypeError, ValueError):
            raise ProtocolError("embeddings answer holds a non-numeric value") from None
        if not all(math.isfinite(x) for x in floats):
            raise ProtocolError("embeddings answer holds a non-finite value")
        out.append(floats)
    if len({len(v) for v in out}) > 1:
        raise ProtocolError("embeddings answer mixes vector sizes")
    return out


def _mean_pool(tokens: list[Any]) -> list[float]:
    if not all(isinstance(t, list) for t in tokens):
        raise ProtocolError("feature-extraction answer mixes token and sentence vectors")
    size = len(tokens[0])
    sums = [0.0] * size
    for token in tokens:
        if len(token) != size:
            raise ProtocolError("feature-extraction answer has ragged token vectors")
        for i, x in enumerate(token):
            sums[i] += float(x)
    return [x / len(tokens) for x in sums]
