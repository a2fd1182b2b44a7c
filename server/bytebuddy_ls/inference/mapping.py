"""Which router providers serve a Hub model, under which id, for which task.

``GET {HF_ENDPOINT}/api/models/{id}?expand[]=inferenceProviderMapping`` (the Hub API;
``HF_ENDPOINT`` defaults to ``https://huggingface.co``) answers, in the user's provider
preference order, ``{provider: {status, providerId, task}}`` (or a list of objects with a
``provider`` field). Answers are cached for ``MAPPING_TTL_S``, failures briefly; many
completions at once share one lookup.

``pick_raw_prompt`` chooses the provider for raw-prompt completion the way the official
clients do: the pinned one, else the first *live* provider whose task is
``text-generation`` and whose route this client knows.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cachetools import TLRUCache

from .providers import HF_INFERENCE, PROVIDERS

HUB_ENDPOINT_ENV = "HF_ENDPOINT"
HUB_DEFAULT = "https://huggingface.co"
MAPPING_TTL_S = 600.0
MAPPING_FAILURE_TTL_S = 30.0
TEXT_GENERATION = "text-generation"
CONVERSATIONAL = "conversational"


def hub_base() -> str:
    return (os.environ.get(HUB_ENDPOINT_ENV) or HUB_DEFAULT).rstrip("/")


def mapping_url(model_id: str, base: str | None = None) -> str:
    return (
        f"{base or hub_base()}/api/models/{quote(model_id, safe='/')}"
        "?expand[]=inferenceProviderMapping"
    )


@dataclass(frozen=True)
class ProviderEntry:
    provider: str
    provider_id: str
    task: str
    status: str

    @property
    def live(self) -> bool:
        return self.status == "live"


def parse_mapping(data: Any) -> tuple[ProviderEntry, ...]:
    """The Hub's answer (dict or list form), in its order; malformed rows are skipped."""
    raw = data.get("inferenceProviderMapping") if isinstance(data, dict) else None
    rows: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        rows = list(raw.items())
    elif isinstance(raw, list):
        rows = [(str(r.get("provider", "")), r) for r in raw if isinstance(r, dict)]
    entries = []
    for provider, row in rows:
        if not provider or not isinstance(row, dict):
            continue
        provider_id = row.get("providerId")
        entries.append(
            ProviderEntry(
                provider=provider,
                provider_id=str(provider_id) if provider_id else "",
                task=str(row.get("task") or ""),
                status=str(row.get("status") or ""),
            )
        )
    return tuple(entries)


def raw_prompt_capable(entry: ProviderEntry) -> bool:
    routes = PROVIDERS.get(entry.provider)
    return entry.task == TEXT_GENERATION and routes is not None and routes.completions is not None


Score = tuple[float, float]  # lower is better


def pick_raw_prompt(
    entries: tuple[ProviderEntry, ...],
    pinned: str | None,
    ranking: dict[str, Score] | None = None,
) -> ProviderEntry | None:
    """The provider that serves raw-prompt completion, or None when none does.

    ``ranking`` (a policy's score per provider) reorders the live candidates; providers
    it does not score keep the mapping's order after the scored ones."""
    if pinned is not None:
        chosen = next((e for e in entries if e.provider == pinned), None)
        if chosen is None and pinned == HF_INFERENCE:
            # hf-inference may host a model without a mapping row: the route says.
            return ProviderEntry(HF_INFERENCE, "", TEXT_GENERATION, "live")
        return chosen if chosen is not None and raw_prompt_capable(chosen) else None
    candidates = [e for e in entries if e.live and raw_prompt_capable(e)]
    if ranking:
        unscored = (float("inf"), float("inf"))
        candidates.sort(key=lambda e: ranking.get(e.provider, unscored))  # stable
    return candidates[0] if candidates else None


def policy_ranking(policy: str | None, router_model: Any) -> dict[str, Score]:
    """Scores per provider for ``:cheapest`` (output, then input price per million
    tokens) and ``:fastest`` (highest throughput, else lowest first-token latency),
    from the router's ``GET /v1/models/{id}`` answer; {} when unknown."""
    rows = router_model.get("providers") if isinstance(router_model, dict) else None
    if policy not in ("cheapest", "fastest") or not isinstance(rows, list):
        return {}
    scores: dict[str, Score] = {}
    for row in rows:
        if not isinstance(row, dict) or row.get("status", "live") != "live":
            continue
        name = row.get("provider")
        if not isinstance(name, str):
            continue
        if policy == "cheapest":
            pricing = row.get("pricing")
            if not isinstance(pricing, dict):
                continue
            output, given = _number(pricing.get("output")), _number(pricing.get("input"))
            if output is not None:
                scores[name] = (output, given or 0.0)
        else:
            throughput = _number(row.get("throughput"))
            latency = _number(row.get("first_token_latency_ms"))
            if throughput:
                scores[name] = (-throughput, latency or 0.0)
            elif latency is not None:
                scores[name] = (0.0, latency)
    return scores


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def chat_providers(entries: tuple[ProviderEntry, ...]) -> list[str]:
    """Live providers serving the model as chat (for "use it for chat" hints)."""
    return [e.provider for e in entries if e.live and e.task == CONVERSATIONAL]


class ProviderMappings:
    """The mapping per model id, cached with a TTL; concurrent lookups share one request.

    ``fetch(url)`` returns the decoded JSON (raises ``InferenceError`` on failure)."""

    def __init__(self, *, clock: Callable[[], float], maxsize: int = 256) -> None:
        self._cache: TLRUCache[str, tuple[ProviderEntry, ...]] = TLRUCache(
            maxsize=maxsize, ttu=self._expiry, timer=clock
        )
        self._inflight: dict[str, asyncio.Future[tuple[ProviderEntry, ...]]] = {}
        self.lookups = 0  # upstream requests made (tests and doctor)

    @staticmethod
    def _expiry(_key: str, value: tuple[ProviderEntry, ...], now: float) -> float:
        return now + (MAPPING_TTL_S if value else MAPPING_FAILURE_TTL_S)

    def cached(self, model_id: str) -> tuple[ProviderEntry, ...] | None:
        return self._cache.get(model_id)

    async def get(
        self, model_id: str, fetch: Callable[[str], Awaitable[Any]]
    ) -> tuple[ProviderEntry, ...]:
        cached = self._cache.get(model_id)
        if cached is not None:
            return cached
        pending = self._inflight.get(model_id)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(model_id, fetch))
            self._inflight[model_id] = pending
            pending.add_done_callback(lambda f: self._landed(model_id, f))
        # shield: one cancelled completion must not cancel the lookup others wait for.
        return await asyncio.shield(pending)

    def _landed(self, model_id: str, future: asyncio.Future[tuple[ProviderEntry, ...]]) -> None:
        self._inflight.pop(model_id, None)
        if not future.cancelled():
            future.exception()  # retrieved: every waiter may have been cancelled

    async def _lookup(
        self, model_id: str, fetch: Callable[[str], Awaitable[Any]]
    ) -> tuple[ProviderEntry, ...]:
        self.lookups += 1
        entries = parse_mapping(await fetch(mapping_url(model_id)))
        self._cache[model_id] = entries
        return entries
