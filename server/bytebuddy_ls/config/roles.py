"""Role resolution: which models serve a role, in fallback order."""

from __future__ import annotations

from collections.abc import Mapping

from .schema import Config, ModelConfig, Role

# edit falls back to chat; apply to edit, then chat; autocomplete and embed have none.
ROLE_FALLBACKS: dict[Role, tuple[Role, ...]] = {
    "chat": ("chat",),
    "edit": ("edit", "chat"),
    "apply": ("apply", "edit", "chat"),
    "autocomplete": ("autocomplete",),
    "embed": ("embed",),
}


def models_for_role(
    config: Config, role: Role, selected: Mapping[Role, str] | None = None
) -> list[ModelConfig]:
    """The fallback chain for ``role``: usable models listing the first role in
    ``ROLE_FALLBACKS`` that any model lists, a user-selected model first."""
    for candidate in ROLE_FALLBACKS[role]:
        chain = [m for m in config.models if candidate in m.roles and m.unusable is None]
        if chain:
            break
    else:
        chain = []
    chosen = (selected or {}).get(role)
    if chosen is not None:
        model = config.model_named(chosen)
        if model is not None and model.unusable is None:
            chain = [model] + [m for m in chain if m.name != chosen]
    return chain
