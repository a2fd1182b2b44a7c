"""Editor-side settings: what a client sends in ``initializationOptions`` and in
``workspace/didChangeConfiguration`` (section ``bytebuddy``). The model config
(``config.yaml``) says *which* models; these say how the editor wants them used."""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..log import logger


class AutocompleteSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    enabled: bool = True
    # Server-side debounce for automatic triggers; invoked requests skip it.
    debounceMs: int = Field(default=75, ge=0, le=2000)


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    # Replaces the built-in chat system prompt ("" sends none).
    systemPrompt: str | None = None


class ContextSettings(BaseModel):
    """Per-editor/per-workspace switches over the config's ``context`` (None = as the
    config says): e.g. VS Code workspace settings turn the index off for one repository."""

    model_config = ConfigDict(extra="ignore")
    enabled: bool | None = None
    index: bool | None = None


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore")
    configPath: str | None = None
    autocomplete: AutocompleteSettings = Field(default_factory=AutocompleteSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    context: ContextSettings = Field(default_factory=ContextSettings)
    # One `textDocument/completion` item carrying the suggestion, for clients
    # without inline completion (Helix, eglot).
    completionFallback: bool = True
    logLevel: Literal["debug", "info", "warning", "error"] | None = None


_SECTIONS: dict[str, type[BaseModel]] = {
    "autocomplete": AutocompleteSettings,
    "chat": ChatSettings,
    "context": ContextSettings,
}


def _changes(raw: dict[str, Any]) -> list[tuple[tuple[str, ...], Any]]:
    """The known settings in ``raw`` as (path, value) pairs; sections are walked."""
    changes: list[tuple[tuple[str, ...], Any]] = []
    for key, value in raw.items():
        section = _SECTIONS.get(key)
        if section is not None and isinstance(value, dict):
            changes += [((key, k), v) for k, v in value.items() if k in section.model_fields]
        elif key in Settings.model_fields:
            changes.append(((key,), value))
    return changes


def parse_settings(raw: Any, base: Settings | None = None) -> Settings:
    """Settings from a client payload; accepts ``{"bytebuddy": {...}}`` or the section.

    Bad values are logged and ignored field by field (the rest still applies)."""
    if isinstance(raw, dict) and isinstance(raw.get("bytebuddy"), dict):
        raw = raw["bytebuddy"]
    settings = base or Settings()
    if not isinstance(raw, dict):
        return settings
    merged = settings.model_dump()
    for path, value in _changes(raw):
        candidate = copy.deepcopy(merged)
        *sections, field = path
        target = candidate[sections[0]] if sections else candidate
        target[field] = value
        try:
            settings = Settings.model_validate(candidate)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            logger.warning("ignoring setting %s=%r: %s", ".".join(path), value, error["msg"])
            continue
        merged = candidate
    return settings
