"""Inference for the Hugging Face API family: one client, one module per wire protocol.

- ``client``: ``InferenceClient`` (shared httpx pool, retries, waits, fallback chains,
  circuit breaker, cancellation);
- ``routing``: which protocol and URL serve ``generate`` and ``chat`` for a model
  (the routing table is in its docstring);
- ``textgen``: TGI native / hf-inference text generation / toolkit ``POST /``;
- ``openai_compat``: ``/v1/chat/completions`` and ``/v1/completions`` (router, TGI
  Messages API, vLLM, llama.cpp);
- ``sse``: tolerant server-sent-events reader;
- ``errors``: typed errors and the one error-body parser;
- ``policy``: retry/wait defaults and the circuit breaker;
- ``auth``: the workspace-secret rule (``HostPolicy``).
"""

from .auth import HostPolicy
from .client import ChainStream, InferenceClient
from .errors import (
    AuthError,
    BadRequestError,
    ConnectError,
    HostNotAllowedError,
    InferenceError,
    InputTooLongError,
    ModelLoadingError,
    ModelNotFoundError,
    OverloadedError,
    PaymentRequiredError,
    ProtocolError,
    RateLimitedError,
    UnsupportedOperationError,
    UpstreamServerError,
    UpstreamTimeoutError,
)
from .policy import RetryPolicy
from .types import ChatMessage, GenerationParams, ServerLimits, WaitCallback, WaitEvent

__all__ = [
    "AuthError",
    "BadRequestError",
    "ChainStream",
    "ChatMessage",
    "ConnectError",
    "GenerationParams",
    "HostNotAllowedError",
    "HostPolicy",
    "InferenceClient",
    "InferenceError",
    "InputTooLongError",
    "ModelLoadingError",
    "ModelNotFoundError",
    "OverloadedError",
    "PaymentRequiredError",
    "ProtocolError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerLimits",
    "UnsupportedOperationError",
    "UpstreamServerError",
    "UpstreamTimeoutError",
    "WaitCallback",
    "WaitEvent",
]
