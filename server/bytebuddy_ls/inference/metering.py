"""Building one ``UpstreamCall`` record per upstream attempt.

A ``Meter`` is started when a request is sent and fed every answer piece; ``finish``
emits the record with the server's token counts when it reported them, else estimates
(``estimated=True``). ``outcome_of`` names how an attempt ended.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable

from ..log import logger
from ..prompting.tokens import BYTES_PER_TOKEN, estimate_tokens, utf8_length
from .errors import InferenceError
from .records import UpstreamCall
from .types import StreamPiece


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, (asyncio.CancelledError, GeneratorExit)):
        return "cancelled"
    if isinstance(error, InferenceError):
        return error.kind
    return "error"


class Meter:
    def __init__(
        self,
        emit: Callable[[UpstreamCall], None],
        *,
        model: str,
        model_id: str,
        provider: str,
        role: str,
        operation: str,
        prompt_text: str,
        stream: bool,
    ) -> None:
        self._emit = emit
        # The record's fields known from the start; ``finish`` adds how it went.
        self._record = functools.partial(
            UpstreamCall,
            model=model,
            model_id=model_id,
            provider=provider,
            role=role,
            operation=operation,
        )
        self._prompt_text = prompt_text
        self._stream = stream
        self._wall = time.time()
        self._start = time.perf_counter()
        self._first: float | None = None
        self._bytes = 0
        self._prompt_tokens: int | None = None
        self._completion_tokens: int | None = None
        self.finish_reason: str | None = None
        self._done = False

    def piece(self, piece: StreamPiece) -> None:
        if piece.text:
            if self._first is None:
                self._first = time.perf_counter()
            self._bytes += utf8_length(piece.text)
        if piece.usage is not None:
            if piece.usage.prompt_tokens is not None:
                self._prompt_tokens = piece.usage.prompt_tokens
            if piece.usage.completion_tokens is not None:
                self._completion_tokens = piece.usage.completion_tokens
        if piece.finish_reason is not None:
            self.finish_reason = piece.finish_reason

    def finish(self, error: BaseException | None = None) -> None:
        """Emit the record once (later calls do nothing); never raises."""
        if self._done:
            return
        self._done = True
        prompt = self._prompt_tokens
        completion = self._completion_tokens
        estimated = prompt is None or completion is None
        if prompt is None:
            prompt = estimate_tokens(self._prompt_text)
        if completion is None:
            completion = math.ceil(self._bytes / BYTES_PER_TOKEN)
        record = self._record(
            started=self._wall,
            prompt_tokens=prompt,
            completion_tokens=completion,
            estimated=estimated,
            latency_s=time.perf_counter() - self._start,
            ttft_s=(self._first - self._start) if self._stream and self._first else None,
            outcome=outcome_of(error),
            finish_reason=self.finish_reason,
            prompt=self._prompt_text,
        )
        try:
            self._emit(record)
        except Exception:  # an observer must never break inference
            logger.exception("call observer failed")
