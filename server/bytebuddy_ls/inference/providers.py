"""The router's inference providers, as data: where each serves raw-prompt completion
(what fill-in-the-middle needs) and chat, under ``{router}/{provider}``.

Every route here takes the provider's own model id (``providerId`` from the Hub's
provider mapping, see ``mapping``) in an OpenAI-style body. hf-inference is the
exception: the model id is part of its paths, and its raw-prompt route exists in two
shapes (OpenAI completions, which models served by vLLM need, and the older
``{inputs, parameters}`` task route): the first is tried first, the other on 404/405.

To add a provider, add a row; nothing else in the client changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class ProviderRoutes:
    name: str
    completions: str | None  # raw-prompt route ("{id}" is the model id), None: chat only
    chat: str
    legacy_completions: str | None = None  # hf-inference's task route


HF_INFERENCE = "hf-inference"

PROVIDERS: dict[str, ProviderRoutes] = {
    p.name: p
    for p in (
        ProviderRoutes(
            HF_INFERENCE,
            completions="/models/{id}/v1/completions",
            chat="/models/{id}/v1/chat/completions",
            legacy_completions="/models/{id}",
        ),
        ProviderRoutes("together", "/v1/completions", "/v1/chat/completions"),
        ProviderRoutes("featherless-ai", "/v1/completions", "/v1/chat/completions"),
        ProviderRoutes("novita", "/v3/openai/completions", "/v3/openai/chat/completions"),
        ProviderRoutes("deepinfra", "/v1/openai/completions", "/v1/openai/chat/completions"),
    )
}

# Router "policies" choose a provider rather than pin one.
POLICIES = frozenset({"fastest", "cheapest", "preferred", "auto"})


def route_url(router_base: str, provider: ProviderRoutes, route: str, model_id: str) -> str:
    path = route.replace("{id}", quote(model_id, safe="/"))
    return f"{router_base}/{provider.name}{path}"
