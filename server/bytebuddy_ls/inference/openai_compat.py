"""The OpenAI-compatible wire protocol: chat completions and (raw-prompt) completions.

Served by the Hugging Face router and its providers (model ``id[:provider]`` or the
provider's own id), TGI's Messages API (model ``"tgi"``: any other name is taken as a
LoRA adapter id), vLLM, llama.cpp server and other OpenAI-style servers.

Sampling fields: OpenAI's standard ones (``max_tokens``, ``temperature``, ``top_p``,
``stop``, ``seed``) always; ``top_k`` and ``repetition_penalty`` only where the format
says ``extra_sampling`` (self-hosted servers: vLLM, llama.cpp and TGI read them; the
router's providers reject or ignore them). Streams ask for ``stream_options.include_usage``
so the last chunk carries the token counts. Streams end with ``data: [DONE]`` or, for
some providers, plain EOF; chunks are parsed tolerantly (missing ``finish_reason``,
extra fields, ``"stop_sequence"``); an error inside a 200 stream looks like
``{"error": {"message", "http_status_code"}}``. TGI rejects a ``suffix`` field, so
fill-in-the-middle goes into the prompt, never here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .types import (
    DEFAULT_MAX_STOP_SEQUENCES,
    GenerationParams,
    StreamPiece,
    Usage,
    normalise_finish_reason,
)
from .wire import Payload, Shaping

# Sampling fields beyond OpenAI's, sent only to servers that read them.
EXTRA_SAMPLING_FIELDS = ("top_k", "repetition_penalty")


def join_v1(base: str, path: str) -> str:
    """``{base}/v1/{path}``, without doubling a ``/v1`` the base already ends in."""
    base = base.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    return f"{base}/v1/{path.lstrip('/')}"


def sampling(
    params: GenerationParams,
    shaping: Shaping,
    *,
    tgi: bool,
    extra: bool,
    stop_cap: int | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    max_tokens = _capped_max_tokens(params.max_tokens, shaping.max_tokens_cap)
    if max_tokens is not None:
        out["max_tokens"] = max(1, max_tokens)
    if params.temperature is not None:
        out["temperature"] = params.temperature
    if params.top_p is not None and (params.top_p < 1 or not tgi):
        out["top_p"] = params.top_p
    if extra:
        out.update(_extra_sampling(params))
    if params.stop:
        # The limit the server states (TGI /info) wins over the format's default.
        cap_stops = shaping.limits.max_stop_sequences or stop_cap
        out["stop"] = list(params.stop[:cap_stops] if cap_stops else params.stop)
    if params.seed is not None:
        out["seed"] = params.seed
    for name in shaping.dropped:
        out.pop(name, None)
    return out


def _capped_max_tokens(max_tokens: int | None, cap: int | None) -> int | None:
    """The token limit to send: the asked one under the model's cap, else the cap."""
    if cap is None:
        return max_tokens
    return min(max_tokens, cap) if max_tokens else cap


def _extra_sampling(params: GenerationParams) -> dict[str, Any]:
    """The sampling options beyond OpenAI's (top_k, repetition_penalty), when set."""
    out: dict[str, Any] = {}
    if params.top_k is not None and params.top_k > 0:
        out["top_k"] = params.top_k
    if params.repetition_penalty is not None and params.repetition_penalty > 0:
        out["repetition_penalty"] = params.repetition_penalty
    return out


def _first_choice(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("response is not an object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("response has no choices")
    return choices[0]


def _usage(data: dict[str, Any]) -> Usage | None:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Usage(
        prompt if isinstance(prompt, int) else None,
        completion if isinstance(completion, int) else None,
    )


def parse_chat(data: Any) -> StreamPiece:
    choice = _first_choice(data)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ValueError("choice has no message")
    content = message.get("content")
    return StreamPiece(
        content if isinstance(content, str) else "",
        True,
        finish_reason=normalise_finish_reason(choice.get("finish_reason")),
        usage=_usage(data),
    )


def parse_completion(data: Any) -> StreamPiece:
    choice = _first_choice(data)
    text = choice.get("text")
    if not isinstance(text, str):
        raise ValueError("choice has no text")
    return StreamPiece(
        text,
        True,
        finish_reason=normalise_finish_reason(choice.get("finish_reason")),
        usage=_usage(data),
    )


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
    usage = _usage(data)
    if not isinstance(choices, list):
        if usage is not None:  # the final usage-only chunk (stream_options.include_usage)
            return StreamPiece(usage=usage)
        raise ValueError("stream chunk has no choices")
    if not choices:
        return StreamPiece(usage=usage)
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta")
    text: Any = delta.get("content") if isinstance(delta, dict) else choice.get("text")
    return StreamPiece(
        text=text if isinstance(text, str) else "",
        finish_reason=normalise_finish_reason(choice.get("finish_reason")),
        usage=usage,
    )


@dataclass(frozen=True)
class OpenAIFormat:
    """``chat``: ``/chat/completions`` with messages; else ``/completions`` with a prompt.
    ``tgi``: TGI's validation rules (``top_p`` < 1, its stop limit);
    ``extra_sampling``: send ``top_k``/``repetition_penalty``; ``stop_cap``: the most
    stop sequences the server takes when it does not say (None: no known limit)."""

    name: str
    chat: bool
    tgi: bool = False
    extra_sampling: bool = False
    stop_cap: int | None = None

    def body(
        self,
        model_field: str,
        payload: Payload,
        params: GenerationParams,
        shaping: Shaping,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model_field}
        if self.chat:
            if isinstance(payload, str):
                raise TypeError("chat completions take messages")
            body["messages"] = [{"role": m.role, "content": m.content} for m in payload]
        else:
            if not isinstance(payload, str):
                raise TypeError("completions take a raw prompt")
            body["prompt"] = payload
        body.update(
            sampling(
                params,
                shaping,
                tgi=self.tgi,
                extra=self.extra_sampling,
                stop_cap=self.stop_cap,
            )
        )
        body["stream"] = stream
        if stream and "stream_options" not in shaping.dropped:
            body["stream_options"] = {"include_usage": True}
        return body

    def parse(self, data: Any, headers: Mapping[str, str]) -> StreamPiece:
        return parse_chat(data) if self.chat else parse_completion(data)

    def parse_event(self, data: Any) -> StreamPiece:
        return parse_stream_event(data)


# The router and its providers: OpenAI's fields and its limit of 4 stop sequences.
_OPENAI_STOPS = DEFAULT_MAX_STOP_SEQUENCES
ROUTER_CHAT = OpenAIFormat("OpenAI chat (router)", chat=True, stop_cap=_OPENAI_STOPS)
ROUTER_COMPLETIONS = OpenAIFormat(
    "OpenAI completions (router)", chat=False, stop_cap=_OPENAI_STOPS
)
# TGI's Messages API and completions route (its launcher default: 4 stop sequences).
TGI_CHAT = OpenAIFormat(
    "OpenAI chat (TGI Messages API)", chat=True, tgi=True, extra_sampling=True, stop_cap=4
)
TGI_COMPLETIONS = OpenAIFormat(
    "OpenAI completions (TGI)", chat=False, tgi=True, extra_sampling=True, stop_cap=4
)
# vLLM, llama.cpp server, SGLang and other OpenAI-compatible servers.
SERVER_CHAT = OpenAIFormat("OpenAI chat", chat=True, extra_sampling=True)
SERVER_COMPLETIONS = OpenAIFormat("OpenAI completions", chat=False, extra_sampling=True)
