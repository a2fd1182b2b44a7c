"""Which wire protocol and URL serve an operation, from provider + apiBase.

``generate`` = raw prompt (fill-in-the-middle); ``chat`` = messages.

- provider ``huggingfaceinferenceapi`` with apiBase unset, the router, or the retired
  ``api-inference.huggingface.co`` host → engine ``router``:
  chat → ``POST {router}/v1/chat/completions`` with model ``id[:provider]``;
  generate → hf-inference text generation ``POST {router}/hf-inference/models/{id}``
  (array answer, ``return_full_text: false``). A model pinned to another provider
  (``id:together``) has no raw-prompt route: ``supports_raw_prompt`` is False.
- provider ``huggingface-tgi`` → engine ``tgi``: generate → ``POST /generate`` and
  ``/generate_stream`` (sized by ``GET /info``); chat → TGI Messages API
  ``/v1/chat/completions`` with model ``"tgi"``.
- provider ``openai`` → engine ``openai``: ``{apiBase}/v1/completions`` and
  ``{apiBase}/v1/chat/completions`` (a base already ending in ``/v1`` is not doubled).
- provider ``huggingfaceinferenceapi`` with any other apiBase (Inference Endpoint, custom
  server) → detected once per base and cached: ``GET /info`` answers like TGI → ``tgi``;
  else ``GET /v1/models`` answers → ``openai``; else the toolkit container →
  ``toolkit``: generate → ``POST {apiBase}`` with ``"stream"`` in the body; no chat.
  A base ending in ``/v1`` is ``openai`` without probing.
- provider ``llamacpp`` → no route: ``InferenceClient`` hands these models to
  ``local.LocalInference`` (in-process llama.cpp) before any routing happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from ..config.schema import LEGACY_API_HOST, ROUTER_BASE, ModelConfig
from .errors import UnsupportedOperationError
from .openai_compat import join_v1

Engine = Literal["router", "tgi", "openai", "toolkit"]
Protocol = Literal["textgen", "openai-chat", "openai-completions"]

ROUTER_HOST = urlsplit(ROUTER_BASE).hostname
# Router "policies" choose a provider rather than pin one.
_ROUTER_POLICIES = frozenset({"fastest", "cheapest", "preferred", "auto"})


@dataclass(frozen=True)
class Target:
    """Where one operation goes and how its body is shaped."""

    engine: Engine
    protocol: Protocol
    url: str
    stream_url: str  # TGI has a separate streaming route; elsewhere the same URL
    stream_flag_in_body: bool  # hf-inference and the toolkit read ``"stream"`` from the body
    model_field: str  # the OpenAI ``"model"`` value ("" for textgen)
    tgi_rules: bool  # apply TGI's validation rules and its /info limits
    info_url: str | None


def split_provider(model_id: str) -> tuple[str, str | None]:
    """``"org/model:provider"`` → ``("org/model", "provider")``."""
    if ":" in model_id:
        bare, provider = model_id.rsplit(":", 1)
        if provider and "/" not in provider:
            return bare, provider
    return model_id, None


class Router:
    """Decides base URLs and engines; the router's own base can be redirected for tests."""

    def __init__(self, router_base: str = ROUTER_BASE) -> None:
        self.router_base = router_base.rstrip("/")

    def base(self, model: ModelConfig) -> str:
        if self.is_router(model):
            return self.router_base
        return model.effective_api_base.rstrip("/")

    def is_router(self, model: ModelConfig) -> bool:
        if model.provider != "huggingfaceinferenceapi":
            return False
        if model.apiBase is None or model.is_legacy_api_base:
            return True
        parts = urlsplit(model.apiBase)
        return parts.hostname in (ROUTER_HOST, LEGACY_API_HOST) and parts.path.rstrip("/") in (
            "",
            "/v1",
        )

    def static_engine(self, model: ModelConfig) -> Engine | None:
        """The engine when config alone decides it; None when it must be detected."""
        if model.provider == "huggingface-tgi":
            return "tgi"
        if model.provider == "openai":
            return "openai"
        if self.is_router(model):
            return "router"
        if self.base(model).endswith("/v1"):
            return "openai"
        return None

    def generate_target(self, model: ModelConfig, engine: Engine) -> Target:
        base = self.base(model)
        if engine == "router":
            bare, provider = split_provider(model.model)
            if provider and provider not in _ROUTER_POLICIES and provider != "hf-inference":
                raise UnsupportedOperationError(
                    f"raw-prompt generation is not available for a model pinned to provider "
                    f"'{provider}' through the router (only chat is); use a model served by "
                    "hf-inference, an Inference Endpoint or TGI for autocomplete",
                    model=model.name,
                    model_id=model.model,
                )
            url = f"{base}/hf-inference/models/{quote(bare, safe='/')}"
            return Target(engine, "textgen", url, url, True, "", False, None)
        if engine == "tgi":
            root = _strip_v1(base)
            return Target(
                engine,
                "textgen",
                f"{root}/generate",
                f"{root}/generate_stream",
                False,
                "",
                True,
                f"{root}/info",
            )
        if engine == "toolkit":
            return Target(engine, "textgen", base, base, True, "", False, None)
        url = join_v1(base, "completions")
        return Target(engine, "openai-completions", url, url, False, model.model, False, None)

    def chat_target(self, model: ModelConfig, engine: Engine) -> Target:
        base = self.base(model)
        if engine == "toolkit":
            raise UnsupportedOperationError(
                "this endpoint serves raw text generation only (no /v1/chat/completions); "
                "use it for autocomplete, or deploy it with TGI/vLLM for chat",
                model=model.name,
                model_id=model.model,
            )
        url = join_v1(base, "chat/completions")
        if engine == "tgi":
            root = _strip_v1(base)
            return Target(engine, "openai-chat", url, url, False, "tgi", True, f"{root}/info")
        return Target(engine, "openai-chat", url, url, False, model.model, False, None)


def _strip_v1(base: str) -> str:
    return base[: -len("/v1")] if base.endswith("/v1") else base
