"""Protocol-neutral values passed between features and the inference client."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..config.schema import ModelConfig


@dataclass(frozen=True)
class GenerationParams:
    """Sampling options in neutral names; each wire protocol maps them its own way."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None

    @classmethod
    def for_model(cls, model: ModelConfig, **overrides: Any) -> GenerationParams:
        """The model's ``defaultCompletionOptions`` with ``overrides`` on top.

        An override whose value is ``None`` keeps the model's default (callers pass
        optional values straight through); use ``dataclasses.replace`` to clear one.
        """
        options = model.defaultCompletionOptions
        params = cls(
            max_tokens=options.maxTokens,
            temperature=options.temperature,
            top_p=options.topP,
            top_k=options.topK,
            repetition_penalty=options.repetitionPenalty,
            stop=tuple(options.stop or ()),
        )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown generation parameter(s): {', '.join(unknown)}")
        changes = {k: v for k, v in overrides.items() if v is not None}
        if "stop" in changes:
            changes["stop"] = _stop_tuple(changes["stop"])
        return dataclasses.replace(params, **changes)


def _stop_tuple(stop: str | Iterable[str]) -> tuple[str, ...]:
    return (stop,) if isinstance(stop, str) else tuple(stop)


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class ServerLimits:
    """What a TGI server reports at ``GET /info``; all ``None`` when unknown."""

    max_input_tokens: int | None = None
    max_total_tokens: int | None = None
    max_stop_sequences: int | None = None


WaitKind = Literal["loading", "waking", "rate_limited", "retrying"]


@dataclass(frozen=True)
class WaitEvent:
    """Reported before the client sleeps, so the editor can show why nothing happens yet."""

    kind: WaitKind
    model: str  # the config name of the model
    message: str  # one line, safe to show (no secrets)
    seconds: float | None  # how long this wait is expected to last, when known


WaitCallback = Callable[[WaitEvent], None]


@dataclass(frozen=True)
class StreamPiece:
    """One decoded stream event: text to show, the end, or an error inside the stream."""

    text: str = ""
    done: bool = False
    error: str | None = None
    error_type: str | None = None
    error_status: int | None = None


# TGI's launcher default (--max-stop-sequences 4) and OpenAI's limit: the cap when a
# server does not say otherwise.
DEFAULT_MAX_STOP_SEQUENCES = 4
