"""The in-process backend (provider ``llamacpp``): ``local.LocalInference`` behind the
``Backend`` interface. No HTTP, no retries; one call record per request."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from ..config.schema import ModelConfig
from .backend import Emit, Request
from .errors import BadRequestError
from .local import LocalInference, TokenCount
from .metering import Meter
from .types import ServerLimits, StreamPiece, Usage


class LocalBackend:
    def __init__(self) -> None:
        self.inference = LocalInference()

    async def aclose(self) -> None:
        self.inference.shutdown()

    async def limits(self, model: ModelConfig) -> ServerLimits:
        return self.inference.limits(model)

    def supports_raw_prompt(self, model: ModelConfig) -> bool | None:
        return True

    async def run(
        self, model: ModelConfig, request: Request, emit: Emit
    ) -> AsyncGenerator[StreamPiece, None]:
        if model.unusable:
            raise BadRequestError(
                model.unusable, model=model.name, model_id=model.model, user_message=model.unusable
            )
        counts = TokenCount()
        if isinstance(request.payload, str):
            stream = self.inference.stream_generate(
                model, request.payload, request.params, on_wait=request.on_wait, counts=counts
            )
        else:
            stream = self.inference.stream_chat(
                model, request.payload, request.params, on_wait=request.on_wait, counts=counts
            )
        meter = Meter(
            emit,
            model=model.name,
            model_id=model.model,
            provider="llamacpp",
            role=request.role,
            operation=request.operation,
            prompt_text=request.prompt_text,
            stream=request.stream,
        )
        failure: BaseException | None = None
        try:
            async with contextlib.aclosing(stream) as pieces:
                async for text in pieces:
                    piece = StreamPiece(text)
                    meter.piece(piece)
                    yield piece
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if counts.prompt is not None:  # llama.cpp's own counts: not estimates
                meter.piece(StreamPiece(usage=Usage(counts.prompt, counts.completion)))
            meter.finish(failure)
        yield StreamPiece(done=True)
