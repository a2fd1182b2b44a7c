"""Fixtures and helpers for the inference tests (registered in conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bytebuddy_ls.config.schema import ModelConfig
from bytebuddy_ls.inference import InferenceClient, RetryPolicy, WaitEvent

# Tiny waits so fault tests run in milliseconds; the numbers keep the same shape as
# the defaults (bounded budgets, exponential backoff).
FAST_POLICY = RetryPolicy(
    max_wait_for_model_s=0.3,
    loading_poll_min_s=0.01,
    loading_poll_max_s=0.05,
    waking_backoff_base_s=0.01,
    scale_up_timeout_s=5,
    rate_limit_base_s=0.01,
    rate_limit_max_wait_s=0.5,
    server_error_base_s=0.01,
    jitter=0,
    breaker_threshold=3,
    breaker_cooldown_s=30,
)


def make_model(
    base: str | None,
    *,
    provider: str = "huggingface-tgi",
    model: str = "bigcode/starcoder2-3b",
    name: str = "test-model",
    **extra: Any,
) -> ModelConfig:
    data: dict[str, Any] = {"name": name, "provider": provider, "model": model, **extra}
    if base is not None:
        data["apiBase"] = base
    return ModelConfig.model_validate(data)


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy",
                   "https_proxy", "all_proxy", "no_proxy")


class WaitLog(list[WaitEvent]):
    def __call__(self, event: WaitEvent) -> None:
        self.append(event)


@pytest.fixture
def isolated_hf_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No token from the machine running the tests leaks into (or changes) a test."""
    for variable in ("HF_TOKEN", "HF_API_KEY", "HF_TOKEN_PATH", "BYTEBUDDY_ROUTER_URL",
                     "HF_ENDPOINT", *PROXY_VARIABLES):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


@pytest_asyncio.fixture
async def hf_client(isolated_hf_env: None) -> AsyncIterator[InferenceClient]:
    instance = InferenceClient(policy=FAST_POLICY)
    yield instance
    await instance.aclose()


@pytest_asyncio.fixture
async def hf_router_client(
    hf_server: Any, isolated_hf_env: None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[InferenceClient]:
    """A client whose router and Hub API are the loopback server."""
    monkeypatch.setenv("HF_ENDPOINT", hf_server.url)
    instance = InferenceClient(policy=FAST_POLICY, router_base=hf_server.url)
    yield instance
    await instance.aclose()
