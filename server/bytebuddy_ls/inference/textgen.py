"""The text-generation wire protocol: TGI native and the hf-inference task route.

One request shape (``{"inputs", "parameters", "stream"}``) serves three routes:
- hf-inference on the router: ``POST {router}/hf-inference/models/{id}`` → an array
  ``[{"generated_text"}]``; ``return_full_text`` must be ``false`` or the prompt comes back;
- TGI native: ``POST /generate`` → an object, ``POST /generate_stream`` → SSE;
- the Inference Endpoints toolkit container (and TGI's own ``/``): ``POST /`` with
  ``"stream"`` in the body.
Stream events carry ``token.text``; special tokens (``"special": true``) are never text;
the last event has a non-null ``generated_text``; errors arrive as ``{"error", "error_type"}``
inside a 200 stream.

TGI validation rules are applied here: temperature 0 → ``do_sample: false``, ``top_p``
outside (0, 1) dropped, non-positive ``top_k``/``repetition_penalty`` dropped, at most
``max_stop_sequences`` stops, and ``max_new_tokens`` kept within ``max_total_tokens``.

Two wire-format objects: ``TGI_NATIVE`` (``/generate``: an object answer; asks for
``details`` to learn the finish reason and token counts) and ``TASK_ROUTE``
(hf-inference's legacy route and ``POST /``: ``"stream"`` in the body, an array
answer, counts from the ``x-prompt-tokens``/``x-generated-tokens`` headers).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..prompting.tokens import estimate_tokens
from .types import (
    DEFAULT_MAX_STOP_SEQUENCES,
    GenerationParams,
    ServerLimits,
    StreamPiece,
    Usage,
    normalise_finish_reason,
)
from .wire import Payload, Shaping, header_int


def parameters(
    params: GenerationParams,
    limits: ServerLimits,
    prompt: str,
    *,
    dropped: Collection[str] = (),
    max_new_tokens_cap: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"return_full_text": False}
    max_new = _max_new_tokens(params.max_tokens, limits, prompt, max_new_tokens_cap)
    if max_new is not None:
        out["max_new_tokens"] = max(1, max_new)
    greedy = params.temperature is not None and params.temperature <= 0
    if greedy:
        out["do_sample"] = False
    else:
        if params.temperature is not None:
            out["temperature"] = params.temperature
            out["do_sample"] = True
        if params.top_p is not None and 0 < params.top_p < 1:
            out["top_p"] = params.top_p
        if params.top_k is not None and params.top_k > 0:
            out["top_k"] = params.top_k
    if params.repetition_penalty is not None and params.repetition_penalty > 0:
        out["repetition_penalty"] = params.repetition_penalty
    if params.stop:
        cap = limits.max_stop_sequences or DEFAULT_MAX_STOP_SEQUENCES
        out["stop"] = list(params.stop[:cap])
    if params.seed is not None:
        out["seed"] = params.seed
    for name in dropped:
        out.pop(name, None)
    return out


def _max_new_tokens(
    asked: int | None, limits: ServerLimits, prompt: str, cap: int | None
) -> int | None:
    """The tokens to ask for: what was asked, within the room the server's total-token
    limit leaves after the prompt, and under the model's cap (at least 1)."""
    max_new = asked
    if limits.max_total_tokens is not None:
        room = limits.max_total_tokens - estimate_tokens(prompt)
        max_new = min(max_new, room) if max_new is not None else None
        if max_new is not None:
            max_new = max(1, max_new)
    if cap is not None:
        max_new = max(1, min(max_new, cap) if max_new else cap)
    return max_new


def _details(data: dict[str, Any]) -> tuple[str | None, int | None]:
    details = data.get("details")
    if not isinstance(details, dict):
        return None, None
    tokens = details.get("generated_tokens")
    return (
        normalise_finish_reason(details.get("finish_reason")),
        tokens if isinstance(tokens, int) else None,
    )


def parse_response(data: Any, headers: Mapping[str, str] | None = None) -> StreamPiece:
    """``[{"generated_text"}]`` (hf-inference, ``/``) or ``{"generated_text"}`` (``/generate``)."""
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("generated_text"), str):
        raise ValueError("no generated_text in the response")
    finish, generated = _details(data)
    headers = headers or {}
    prompt_tokens = header_int(headers, "x-prompt-tokens")
    generated = generated if generated is not None else header_int(headers, "x-generated-tokens")
    usage = (
        Usage(prompt_tokens, generated)
        if prompt_tokens is not None or generated is not None
        else None
    )
    return StreamPiece(str(data["generated_text"]), True, finish_reason=finish, usage=usage)


def parse_stream_event(data: Any) -> StreamPiece:
    if not isinstance(data, dict):
        raise ValueError("stream event is not an object")
    if data.get("error"):
        error = data["error"]
        message = error.get("message") if isinstance(error, dict) else error
        error_type = data.get("error_type")
        return StreamPiece(
            error=str(message),
            error_type=str(error_type) if error_type else None,
        )
    token = data.get("token")
    text = ""
    if isinstance(token, dict) and not token.get("special") and isinstance(token.get("text"), str):
        text = token["text"]
    elif token is None and "generated_text" not in data:
        raise ValueError("stream event has neither token nor generated_text")
    done = data.get("generated_text") is not None
    finish, generated = _details(data) if done else (None, None)
    usage = Usage(None, generated) if generated is not None else None
    return StreamPiece(text=text, done=done, finish_reason=finish, usage=usage)


@dataclass(frozen=True)
class TextGenerationFormat:
    """``{"inputs", "parameters"}``; ``stream_in_body``: the route reads ``"stream"``
    from the body (hf-inference, ``POST /``) rather than from a separate path."""

    name: str
    stream_in_body: bool
    details: bool
    chat: bool = False

    def body(
        self,
        model_field: str,
        payload: Payload,
        params: GenerationParams,
        shaping: Shaping,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        if not isinstance(payload, str):
            raise TypeError("text generation takes a raw prompt")
        out = parameters(
            params,
            shaping.limits,
            payload,
            dropped=shaping.dropped,
            max_new_tokens_cap=shaping.max_tokens_cap,
        )
        if self.details and "details" not in shaping.dropped:
            out["details"] = True
        body: dict[str, Any] = {"inputs": payload, "parameters": out}
        if self.stream_in_body:
            body["stream"] = stream
        return body

    def parse(self, data: Any, headers: Mapping[str, str]) -> StreamPiece:
        return parse_response(data, headers)

    def parse_event(self, data: Any) -> StreamPiece:
        return parse_stream_event(data)


TGI_NATIVE = TextGenerationFormat("TGI native (/generate)", stream_in_body=False, details=True)
TASK_ROUTE = TextGenerationFormat("text generation ({inputs, parameters})", True, False)


def parse_info(data: Any) -> ServerLimits:
    """TGI ``GET /info``."""
    if not isinstance(data, dict):
        raise ValueError("/info is not an object")

    def number(key: str) -> int | None:
        value = data.get(key)
        return int(value) if isinstance(value, (int, float)) and value > 0 else None

    return ServerLimits(
        max_input_tokens=number("max_input_tokens") or number("max_input_length"),
        max_total_tokens=number("max_total_tokens"),
        max_stop_sequences=number("max_stop_sequences"),
    )


def looks_like_tgi_info(data: Any) -> bool:
    return isinstance(data, dict) and (
        "model_id" in data or "max_total_tokens" in data or "router" in data
    )
