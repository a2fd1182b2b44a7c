"""The OpenAI-compatible wire protocol: ``/v1/chat/completions`` and ``/v1/completions``.

Served by the Hugging Face router (model ``id[:provider]``), TGI's Messages API (model
``"tgi"``: any other name is taken as a LoRA adapter id), vLLM, llama.cpp server and
other OpenAI-style servers.

Only OpenAI's standard sampling fields are sent (``max_tokens``, ``temperature``,
``top_p``, ``stop``, ``seed``): providers behind the router reject or ignore others, so
``top_k`` and ``repetition_penalty`` apply only to the text-generation protocol.
Streams end with ``data: [DONE]`` or, for some providers, plain EOF; chunks are parsed
tolerantly (missing ``finish_reason``, extra fields, ``"stop_sequence"``); an error
inside a 200 stream looks like ``{"error": {"message", "http_status_code"}}``. TGI
rejects a ``suffix`` field, so fill-in-the-middle goes into the prompt, never here.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from .types import (
    DEFAULT_MAX_STOP_SEQUENCES,
    ChatMessage,
    GenerationParams,
    ServerLimits,
    StreamPiece,
)


def join_v1(base: str, path: str) -> str:
    """``{base}/v1/{path}``, without doubling a ``/v1`` the base already ends in."""
    base = base.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1/{path.lstrip('/')}"


def _sampling(
    params: GenerationParams,
    limits: ServerLimits,
    *,
    tgi: bool,
    dropped: Collection[str],
    max_tokens_cap: int | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    max_tokens = params.max_tokens
    if max_tokens_cap is not None:
        max_tokens = min(max_tokens, max_tokens_cap) if max_tokens else max_tokens_cap
    if max_tokens is not None:
        out["max_tokens"] = max(1, max_tokens)
    if params.temperature is not None:
        out["temperature"] = params.temperature
    if params.top_p is not None and (params.top_p < 1 or not tgi):
        out["top_p"] = params.top_p
    if params.stop:
        out["stop"] = list(params.stop[: limits.max_stop_sequences or DEFAULT_MAX_STOP_SEQUENCES])
    if params.seed is not None:
        out["seed"] = params.seed
    for name in dropped:
        out.pop(name, None)
    return out


def chat_body(
    model: str,
    messages: Sequence[ChatMessage],
    params: GenerationParams,
    limits: ServerLimits,
    *,
    stream: bool,
    tgi: bool = False,
    dropped: Collection[str] = (),
    max_tokens_cap: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        **_sampling(params, limits, tgi=tgi, dropped=dropped, max_tokens_cap=max_tokens_cap),
        "stream": stream,
    }
    return body


def completion_body(
    model: str,
    prompt: str,
    params: GenerationParams,
    limits: ServerLimits,
    *,
    stream: bool,
    tgi: bool = False,
    dropped: Collection[str] = (),
    max_tokens_cap: int | None = None,
) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": prompt,
        **_sampling(params, limits, tgi=tgi, dropped=dropped, max_tokens_cap=max_tokens_cap),
        "stream": stream,
    }


def _first_choice(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("response is not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("response has no choices")
    return choices[0]


def parse_chat(data: Any) -> str:
    message = _first_choice(data).get("message")
    if not isinstance(message, dict):
        raise ValueError("choice has no message")
    content = message.get("content")
    return content if isinstance(content, str) else ""


def parse_completion(data: Any) -> str:
    text = _first_choice(data).get("text")
    if not isinstance(text, str):
        raise ValueError("choice has no text")
    return text


def parse_stream_event(data: Any) -> StreamPiece:
    if not isinstance(data, dict):
        raise ValueError("stream chunk is not an object")
    error = data.get("error")
    if error:
        if isinstance(error, dict):
            status = error.get("http_status_code") or error.get("code")
            return StreamPiece(
                error=str(error.get("message") or error),
                error_type=str(error.get("type")) if error.get("type") else None,
                error_status=status if isinstance(status, int) else None,
            )
        error_type = data.get("error_type")
        return StreamPiece(error=str(error), error_type=str(error_type) if error_type else None)
    choices = data.get("choices")
    if not isinstance(choices, list):
        if "usage" in data:  # the final usage-only chunk (stream_options.include_usage)
            return StreamPiece()
        raise ValueError("stream chunk has no choices")
    if not choices:
        return StreamPiece()
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    text: Any = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return StreamPiece(text=text if isinstance(text, str) else "")
