"""What a call costs: the router's price list, the config's ``pricing``, local models free.

The router publishes per model and provider ``pricing: {input, output}`` in USD per
million tokens at ``GET {router}/v1/models``. The list is fetched at most once a day
(kept in the state directory, so restarts do not refetch) and never on a request's path:
a call made before the first fetch is priced when the list arrives is not re-priced, it
costs what was known when it happened.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config.schema import ROUTER_BASE, ModelConfig, Pricing

PRICES_FILE = "router-prices.json"
REFRESH_S = 86400.0
MAX_PRICE_LIST_BYTES = 20_000_000


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # USD per million prompt tokens
    output: float  # USD per million completion tokens

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


FREE = Price(0.0, 0.0)


def hub_id(model: ModelConfig) -> str:
    """The Hub id without a ``:provider`` (or ``:fastest``) suffix."""
    head, sep, tail = model.model.rpartition(":")
    return head if sep and "/" not in tail else model.model


def parse_price_list(data: Any) -> dict[str, dict[str, Price]]:
    """``{hub id: {provider: Price}}`` from a ``/v1/models`` answer; anything malformed
    is skipped (the list comes from the network)."""
    table: dict[str, dict[str, Price]] = {}
    entries = data.get("data") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        providers = entry.get("providers")
        prices: dict[str, Price] = {}
        for item in providers if isinstance(providers, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("provider"), str):
                continue
            if item.get("is_free") is True:
                prices[item["provider"]] = FREE
                continue
            pricing = item.get("pricing")
            if not isinstance(pricing, dict):
                continue
            rates = [pricing.get("input"), pricing.get("output")]
            if all(
                isinstance(r, (int, float))
                and not isinstance(r, bool)
                and math.isfinite(r)
                and r >= 0
                for r in rates
            ):
                prices[item["provider"]] = Price(float(rates[0]), float(rates[1]))  # type: ignore[arg-type]
        if prices:
            table[entry["id"]] = prices
    return table


class PriceBook:
    """Prices by model and provider; ``price`` is a dictionary lookup."""

    def __init__(self, cache_dir: Path, router_base: str) -> None:
        self.cache_file = cache_dir / PRICES_FILE
        self.router_base = router_base.rstrip("/")
        self.fetched_at = 0.0
        self._table: dict[str, dict[str, Price]] = {}

    # ----- the list ------------------------------------------------------------------

    def load_cached(self) -> None:
        """The list saved by an earlier fetch from the same router, if any."""
        try:
            saved = json.loads(self.cache_file.read_text(encoding="utf-8"))
            if saved.get("router") != self.router_base:
                return
            self._table = parse_price_list(saved["list"])
            self.fetched_at = float(saved["fetched_at"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return

    @property
    def stale(self) -> bool:
        return time.time() - self.fetched_at > REFRESH_S

    def fetch(self, timeout_s: float = 10.0) -> None:
        """Fetch the router's list (blocking: run it off the event loop). Raises
        ``OSError`` or ``ValueError`` when the router cannot be read."""
        import httpx  # the accounting thread fetches; serve's start-up need not import it

        url = f"{self.router_base}/v1/models"
        with httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False) as http:
            response = http.get(url, headers={"Accept": "application/json"})
            if response.status_code != 200:
                raise ValueError(f"{url} answered {response.status_code}")
            if len(response.content) > MAX_PRICE_LIST_BYTES:
                raise ValueError(f"{url}: the price list is larger than 20 MB")
            raw = response.json()
        table = parse_price_list(raw)
        if not table and not (isinstance(raw, dict) and isinstance(raw.get("data"), list)):
            raise ValueError(f"{url} did not answer a model list")
        self._table, self.fetched_at = table, time.time()
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_text(
                json.dumps(
                    {"router": self.router_base, "fetched_at": self.fetched_at, "list": raw}
                ),
                encoding="utf-8",
            )
            tmp.replace(self.cache_file)
        except OSError:
            pass  # fetched again tomorrow; the prices in memory serve today

    # ----- lookups -------------------------------------------------------------------

    def price(self, model: ModelConfig | None, provider: str) -> Price | None:
        """The price of ``model`` served by ``provider``: the config's ``pricing`` first,
        free for in-process models, else the router's list (for router models; a provider
        the list does not name — the router's own choice — costs what the first listed
        provider charges). None when unknown."""
        if model is None:
            return None
        override = model.pricing
        if override is not None and (override.input is not None or override.output is not None):
            return Price(override.input or 0.0, override.output or 0.0)
        if model.is_local:
            return FREE
        if not self.needs_router(model):
            return None  # an Endpoint or another server: only the config knows its price
        prices = self._table.get(hub_id(model))
        if not prices:
            return None
        return prices.get(provider) or next(iter(prices.values()))

    @staticmethod
    def needs_router(model: ModelConfig) -> bool:
        """Whether the router's price list is where this model's price comes from."""
        own = model.pricing
        return (
            model.provider == "huggingfaceinferenceapi"
            and model.effective_api_base == ROUTER_BASE
            and (own is None or (own.input is None and own.output is None))
        )

    def routed_models(self) -> int:
        return len(self._table)


def per_hour(model: ModelConfig | None) -> float | None:
    pricing: Pricing | None = model.pricing if model is not None else None
    return pricing.perHour if pricing is not None else None
