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
        # Field by field (the config's camelCase names to ours), checked by mypy.
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
class Usage:
    """Token counts a server reported for one answer (either may be unknown)."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class StreamPiece:
    """One decoded answer event: text to show, the end, an error inside the stream, and
    whatever the server said about how the answer ended and what it cost."""

    text: str = ""
    done: bool = False
    error: str | None = None
    error_type: str | None = None
    error_status: int | None = None
    finish_reason: str | None = None
    usage: Usage | None = None


# What servers call "stopped because the token limit was reached".
_LENGTH_REASONS = frozenset({"length", "max_tokens", "model_length"})


def normalise_finish_reason(reason: object) -> str | None:
    """``length`` | ``stop`` | another server word; TGI's ``eos_token`` and
    ``stop_sequence`` both mean ``stop``."""
    if not isinstance(reason, str) or not reason:
        return None
    if reason in _LENGTH_REASONS:
        return "length"
    if reason in ("eos_token", "stop_sequence", "end_turn", "eos"):
        return "stop"
    return reason


class Answer(str):
    """A whole answer's text, carrying how it ended.

    A ``str`` so callers that only want the text use it as one; ``finish_reason`` is
    ``"length"`` when the answer was cut by the token limit (``truncated``), ``"stop"``
    when the model ended it, None when the server did not say."""

    finish_reason: str | None

    def __new__(cls, text: str, finish_reason: str | None = None) -> Answer:
        answer = super().__new__(cls, text)
        answer.finish_reason = finish_reason
        return answer

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


# TGI's launcher default (--max-stop-sequences 4) and OpenAI's limit: the cap when a
# server does not say otherwise.
DEFAULT_MAX_STOP_SEQUENCES = 4
