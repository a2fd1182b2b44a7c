"""Which wire format and URL serve an operation, from provider + apiBase (+ the router's
provider mapping).

``generate`` = raw prompt (fill-in-the-middle); ``chat`` = messages.

- provider ``huggingfaceinferenceapi`` with apiBase unset, the router, or the retired
  ``api-inference.huggingface.co`` host → engine ``router``:
  - chat → ``POST {router}/v1/chat/completions`` with model ``id`` or ``id:policy``
    (the router picks the provider); a pinned provider (``id:together``) →
    ``{router}/{provider}{chat route}`` with the provider's own model id, as the official
    clients send it;
  - generate → the provider the Hub's mapping names (see ``mapping.pick_raw_prompt``;
    ``:cheapest``/``:fastest`` rank the candidates by the router's ``/v1/models/{id}``):
    ``{router}/{provider}{completions route}`` with its provider id (``providers``
    table); hf-inference → ``/hf-inference/models/{id}/v1/completions``, falling back to
    the legacy ``{inputs, parameters}`` route on 404/405. No provider serves the model as
    text-generation → no raw-prompt route (``UnsupportedOperationError``).
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
- provider ``llamacpp`` → no route: the client hands these models to the in-process
  backend (``local_backend``) before any routing happens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ..config.schema import LEGACY_API_HOST, ROUTER_BASE, ModelConfig
from . import openai_compat, textgen
from .errors import UnsupportedOperationError
from .mapping import ProviderEntry
from .openai_compat import join_v1
from .providers import HF_INFERENCE, POLICIES, PROVIDERS, route_url
from .wire import WireFormat

Engine = Literal["router", "tgi", "openai", "toolkit"]

ROUTER_HOST = urlsplit(ROUTER_BASE).hostname
ENDPOINTS_HOST_SUFFIX = ".endpoints.huggingface.cloud"


def is_endpoint_url(url: str) -> bool:
    """A dedicated Inference Endpoint (``{name}.{region}.{vendor}.endpoints.huggingface.cloud``)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host.endswith(ENDPOINTS_HOST_SUFFIX)


@dataclass(frozen=True)
class Target:
    """Where one operation goes and how its body is shaped."""

    engine: Engine
    wire: WireFormat
    url: str
    stream_url: str  # TGI has a separate streaming route; elsewhere the same URL
    model_field: str  # the OpenAI ``"model"`` value ("" for text generation)
    served_by: str  # the provider named in call records ("together", "tgi", "endpoint"...)
    info_url: str | None = None  # TGI: its /info limits apply
    # Another shape of the same route, tried once when this one answers 404/405.
    fallback: Target | None = None

    @property
    def endpoint_host(self) -> bool:
        return is_endpoint_url(self.url)


def split_provider(model_id: str) -> tuple[str, str | None]:
    """``"org/model:provider"`` → ``("org/model", "provider")``."""
    if ":" in model_id:
        bare, provider = model_id.rsplit(":", 1)
        if provider and "/" not in provider:
            return bare, provider
    return model_id, None


def pinned_provider(model_id: str) -> str | None:
    """The provider an ``id:provider`` model names; None for ``id`` and ``id:policy``."""
    _bare, suffix = split_provider(model_id)
    return suffix if suffix and suffix not in POLICIES else None


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

    def _served_by(self, model: ModelConfig, engine: Engine) -> str:
        if is_endpoint_url(self.base(model)) or engine == "toolkit":
            return "endpoint"
        return engine

    def router_generate_target(self, model: ModelConfig, entry: ProviderEntry) -> Target:
        """Raw-prompt completion through the router, by the provider ``entry`` names."""
        bare, _ = split_provider(model.model)
        routes = PROVIDERS[entry.provider]
        assert routes.completions is not None
        provider_id = entry.provider_id or bare
        if entry.provider == HF_INFERENCE:
            # hf-inference serves Hub ids as they are (its paths and bodies use them).
            assert routes.legacy_completions is not None
            legacy = route_url(self.router_base, routes, routes.legacy_completions, bare)
            fallback = Target("router", textgen.TASK_ROUTE, legacy, legacy, "", HF_INFERENCE)
            url = route_url(self.router_base, routes, routes.completions, bare)
            return Target(
                "router",
                openai_compat.ROUTER_COMPLETIONS,
                url,
                url,
                bare,
                HF_INFERENCE,
                fallback=fallback,
            )
        url = route_url(self.router_base, routes, routes.completions, provider_id)
        return Target(
            "router", openai_compat.ROUTER_COMPLETIONS, url, url, provider_id, entry.provider
        )

    def router_chat_target(self, model: ModelConfig, entry: ProviderEntry | None) -> Target:
        """Chat through the router: the pinned provider's own route when its mapping is
        known, else the router's routed chat (it picks or honours ``:provider``)."""
        bare, suffix = split_provider(model.model)
        routes = PROVIDERS.get(entry.provider) if entry is not None else None
        if entry is not None and routes is not None:
            # hf-inference serves Hub ids as they are (its paths and bodies use them).
            provider_id = bare if entry.provider == HF_INFERENCE else entry.provider_id or bare
            url = route_url(self.router_base, routes, routes.chat, provider_id)
            return Target(
                "router", openai_compat.ROUTER_CHAT, url, url, provider_id, entry.provider
            )
        url = f"{self.router_base}/v1/chat/completions"
        served = suffix if suffix and suffix not in POLICIES else "router"
        return Target("router", openai_compat.ROUTER_CHAT, url, url, model.model, served)

    def generate_target(self, model: ModelConfig, engine: Engine) -> Target:
        """Raw-prompt completion on a server that is not the router."""
        base = self.base(model)
        served = self._served_by(model, engine)
        if engine == "tgi":
            root = _strip_v1(base)
            return Target(
                engine,
                textgen.TGI_NATIVE,
                f"{root}/generate",
                f"{root}/generate_stream",
                "",
                served,
                info_url=f"{root}/info",
            )
        if engine == "toolkit":
            return Target(engine, textgen.TASK_ROUTE, base, base, "", served)
        if engine == "router":
            raise AssertionError("router targets need the provider mapping")
        url = join_v1(base, "completions")
        return Target(engine, openai_compat.SERVER_COMPLETIONS, url, url, model.model, served)

    def chat_target(self, model: ModelConfig, engine: Engine) -> Target:
        """Chat on a server that is not the router."""
        base = self.base(model)
        served = self._served_by(model, engine)
        if engine == "toolkit":
            raise UnsupportedOperationError(
                "this endpoint serves raw text generation only (no /v1/chat/completions); "
                "use it for autocomplete, or deploy it with TGI/vLLM for chat",
                model=model.name,
                model_id=model.model,
            )
        if engine == "router":
            raise AssertionError("router targets come from router_chat_target")
        url = join_v1(base, "chat/completions")
        if engine == "tgi":
            root = _strip_v1(base)
            return Target(
                engine, openai_compat.TGI_CHAT, url, url, "tgi", served, info_url=f"{root}/info"
            )
        return Target(engine, openai_compat.SERVER_CHAT, url, url, model.model, served)


def _strip_v1(base: str) -> str:
    return base[: -len("/v1")] if base.endswith("/v1") else base


def unsent_options(model: ModelConfig) -> str | None:
    """Which of the model's ``defaultCompletionOptions`` never reach its server, and why
    (for ``check-config``); None when every option is sent."""
    if model.is_local or not Router().is_router(model):
        return None  # TGI, OpenAI-compatible servers, llama.cpp: every option is sent
    options = model.defaultCompletionOptions
    dropped = [
        name
        for name, value in (
            ("topK", options.topK),
            ("repetitionPenalty", options.repetitionPenalty),
        )
        if value is not None
    ]
    notes = []
    if dropped:
        notes.append(
            f"{', '.join(dropped)} not sent: the router's providers take OpenAI's sampling "
            "fields only (temperature, topP, maxTokens, stop)"
        )
    limit = openai_compat.ROUTER_CHAT.stop_cap
    if limit is not None and options.stop and len(options.stop) > limit:
        notes.append(f"only the first {limit} stop sequences are sent (the router's limit)")
    return "; ".join(notes) or None
