"""What every wire format offers: shape a request body, parse a whole answer, parse one
stream event. One object per protocol lives in its protocol module (``textgen``,
``openai_compat``); routing picks the object, the HTTP backend only calls these three.

``Shaping`` carries what a body must respect beyond the user's options: the server's
limits (TGI ``/info``) and what earlier rejections taught (parameters to drop, a lower
``max_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .types import ChatMessage, GenerationParams, ServerLimits, StreamPiece

Payload = str | Sequence[ChatMessage]  # a raw prompt, or chat messages


@dataclass(frozen=True)
class Shaping:
    limits: ServerLimits = field(default_factory=ServerLimits)
    dropped: frozenset[str] = frozenset()
    max_tokens_cap: int | None = None


class WireFormat(Protocol):
    """One wire protocol: the request body and how to read answers. Implementations
    (``textgen``, ``openai_compat``) repeat these signatures, as a Protocol asks."""

    @property
    def name(self) -> str:
        """Shown in logs and by doctor ("TGI native (/generate)", "OpenAI chat", ...)."""
        ...

    @property
    def chat(self) -> bool:
        """Takes messages (True) or a raw prompt (False)."""
        ...

    def body(
        self,
        model_field: str,
        payload: Payload,
        params: GenerationParams,
        shaping: Shaping,
        *,
        stream: bool,
    ) -> dict[str, Any]: ...

    def parse(self, data: Any, headers: Mapping[str, str]) -> StreamPiece:
        """A whole (non-streamed) answer as one final piece; ValueError when malformed."""
        ...

    def parse_event(self, data: Any) -> StreamPiece:
        """One decoded stream event; ValueError when malformed."""
        ...


def header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
