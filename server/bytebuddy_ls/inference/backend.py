"""The ``Backend`` interface: what the client needs from whatever runs a model.

Two implementations: ``http_backend.HttpBackend`` (every HTTP server: router, Inference
Endpoints, TGI, OpenAI-compatible servers) and ``local_backend.LocalBackend``
(in-process llama.cpp). A backend runs one model; fallback chains, circuit breakers and
call records are the client's (``chain``, ``client``), the same for both.

``run`` yields ``StreamPiece``s for a whole answer too (then just one, ``done``), so one
code path serves streamed and whole answers. A backend retries as its transport needs
(waits for a loading model, backoff on 429) but only before the first text piece.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ..config.schema import ModelConfig
from .records import UpstreamCall
from .types import ChatMessage, GenerationParams, ServerLimits, StreamPiece, WaitCallback

Kind = Literal["generate", "chat"]


@dataclass(frozen=True)
class Request:
    """One operation for one model, as the features asked for it."""

    kind: Kind
    payload: str | tuple[ChatMessage, ...]
    params: GenerationParams
    stream: bool
    role: str
    operation: str
    # Invoked by the user (chat, edit, an explicit completion) rather than automatic
    # (ghost text while typing): only invoked work waits for a waking endpoint.
    invoked: bool = True
    on_wait: WaitCallback | None = field(default=None, compare=False)

    @property
    def prompt_text(self) -> str:
        if isinstance(self.payload, str):
            return self.payload
        return "\n".join(m.content for m in self.payload)


Emit = Callable[[UpstreamCall], None]


class Backend(Protocol):
    def run(
        self, model: ModelConfig, request: Request, emit: Emit
    ) -> AsyncGenerator[StreamPiece, None]:
        """The answer's pieces; raises ``InferenceError``. Calls ``emit`` once per upstream
        attempt (including failed and cancelled ones)."""
        ...

    async def limits(self, model: ModelConfig) -> ServerLimits: ...

    def supports_raw_prompt(self, model: ModelConfig) -> bool | None: ...

    async def aclose(self) -> None: ...
