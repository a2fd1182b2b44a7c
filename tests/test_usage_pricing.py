"""Cost: the router's /v1/models price list (from a loopback router), config overrides,
local models free, per-hour Endpoints, the daily cache."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from bytebuddy_ls.config import ConfigSourceKind, load_config_data
from bytebuddy_ls.usage.ledger import read_usage
from bytebuddy_ls.usage.pricing import FREE, Price, PriceBook, parse_price_list

from .usage_support import Recorder, call, make_accounting

PRICE_LIST: dict[str, Any] = {
    "object": "list",
    "data": [
        {
            "id": "Qwen/Qwen2.5-Coder-32B-Instruct",
            "object": "model",
            "providers": [
                {"provider": "together", "status": "live", "context_length": 32768,
                 "pricing": {"input": 0.8, "output": 1.2}, "is_free": False},
                {"provider": "nebius", "status": "live",
                 "pricing": {"input": 0.06, "output": 0.18}},
                {"provider": "weird", "pricing": {"input": "free", "output": -1}},
            ],
        },
        {"id": "bigcode/starcoder2-15b", "providers": [{"provider": "hf-inference",
                                                         "is_free": True}]},
        {"id": 42},
        "garbage",
    ],
}


def config(**pricing: Any) -> dict[str, Any]:
    qwen: dict[str, Any] = {"name": "qwen", "provider": "huggingfaceinferenceapi",
                            "model": "Qwen/Qwen2.5-Coder-32B-Instruct:together"}
    if pricing:
        qwen["pricing"] = pricing
    return {
        "models": [
            qwen,
            {"name": "star", "provider": "huggingfaceinferenceapi",
             "model": "bigcode/starcoder2-15b", "roles": ["autocomplete"]},
            {"name": "local", "provider": "llamacpp", "model": "gemma-3-270m"},
            {"name": "endpoint", "provider": "huggingface-tgi", "apiBase": "http://127.0.0.1:9",
             "model": "org/private", "pricing": {"perHour": 3.6}},
        ]
    }


def test_price_list_parsing_skips_garbage() -> None:
    table = parse_price_list(PRICE_LIST)
    assert table["Qwen/Qwen2.5-Coder-32B-Instruct"] == {
        "together": Price(0.8, 1.2), "nebius": Price(0.06, 0.18)}
    assert table["bigcode/starcoder2-15b"] == {"hf-inference": FREE}
    assert parse_price_list([1, 2]) == {} and parse_price_list({"data": "x"}) == {}


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_costs_from_a_loopback_router(hf_server: Any, tmp_path: Path) -> None:
    hf_server.script(match_path="/v1/models", body=PRICE_LIST)
    recorder = Recorder()
    accounting = make_accounting(tmp_path, config(), recorder, router=hf_server.url)
    try:
        await wait_until(lambda: accounting.prices.routed_models() == 2)
        assert [r.path for r in hf_server.requests] == ["/v1/models"]
        assert "Authorization" not in hf_server.requests[0].headers  # a public list
        accounting.observe(call("qwen", provider="together", prompt_tokens=1_000_000,
                                completion_tokens=500_000))  # 0.8 + 0.6
        accounting.observe(call("qwen", provider="nebius", prompt_tokens=1_000_000,
                                completion_tokens=0))  # 0.06
        # The router chose a provider the list does not name: the first listed one's price.
        accounting.observe(call("qwen", provider="auto", prompt_tokens=0,
                                completion_tokens=1_000_000))  # 1.2
        accounting.observe(call("star", provider="hf-inference", prompt_tokens=10**6))
        accounting.observe(call("local", provider="llamacpp", prompt_tokens=10**6))
        assert await asyncio.to_thread(accounting.flush)
        by_provider = {line.key: line.cost_usd for line in
                       read_usage(accounting.ledger_path, 0, "provider")}
        assert by_provider["together"] == pytest.approx(1.4)
        assert by_provider["nebius"] == pytest.approx(0.06)
        assert by_provider["auto"] == pytest.approx(1.2)
        assert by_provider["hf-inference"] == 0 and by_provider["llamacpp"] == 0
    finally:
        accounting.close()

    # A day's cache: the next start (same router) does not fetch again.
    later = make_accounting(tmp_path, config(), Recorder(), router=hf_server.url)
    try:
        await wait_until(lambda: later.prices.routed_models() == 2)
        await asyncio.sleep(0.2)
        assert [r.path for r in hf_server.requests] == ["/v1/models"]
    finally:
        later.close()


async def test_config_pricing_overrides_the_router(hf_server: Any, tmp_path: Path) -> None:
    hf_server.script(match_path="/v1/models", body=PRICE_LIST)
    accounting = make_accounting(tmp_path, config(input=10.0, output=0.0), Recorder(),
                                 router=hf_server.url)
    try:
        await wait_until(lambda: accounting.prices.routed_models() == 2)
        accounting.observe(call("qwen", provider="together", prompt_tokens=100_000,
                                completion_tokens=100_000))
        assert await asyncio.to_thread(accounting.flush)
        (line,) = read_usage(accounting.ledger_path, 0)
        assert line.cost_usd == pytest.approx(1.0)
    finally:
        accounting.close()


def test_unreachable_router_costs_nothing_and_says_nothing(tmp_path: Path) -> None:
    recorder = Recorder()
    accounting = make_accounting(tmp_path, config(), recorder)  # port 9: nothing listens
    try:
        accounting.observe(call("qwen", provider="together", prompt_tokens=10**6))
        assert accounting.flush()
        (line,) = read_usage(accounting.ledger_path, 0)
        assert line.cost_usd == 0 and line.requests == 1
        assert recorder.problems == []
    finally:
        accounting.close()


def test_per_hour_endpoint_accrues_between_calls(tmp_path: Path) -> None:
    accounting = make_accounting(tmp_path, config(), Recorder())
    try:
        start = time.time() - 600
        accounting.observe(call("endpoint", provider="endpoint", started=start, latency_s=0.0))
        accounting.observe(call("endpoint", provider="endpoint", started=start + 300,
                                latency_s=0.0))  # 5 minutes at $3.60/h = $0.30
        # A gap longer than the scale-to-zero delay is not counted.
        accounting.observe(call("endpoint", provider="endpoint", started=start + 300 + 3600,
                                latency_s=0.0))
        assert accounting.flush()
        (line,) = read_usage(accounting.ledger_path, 0)
        assert line.requests == 3 and line.cost_usd == pytest.approx(0.30)
    finally:
        accounting.close()


def test_pricebook_ignores_a_cache_from_another_router(tmp_path: Path) -> None:
    book = PriceBook(tmp_path, "http://a.example")
    book.cache_file.write_text('{"router": "http://b.example", "fetched_at": 1e12, "list": {}}')
    book.load_cached()
    assert book.stale
    model = load_config_data(config(), "c", ConfigSourceKind.FLAG).config.models[0]
    assert book.price(model, "together") is None
