"""Inference for the Hugging Face API family: one client, one module per wire protocol.

- ``client``: ``InferenceClient``, what features call (picks the backend, runs chains,
  tells observers about every upstream call);
- ``backend``: the ``Backend`` interface; ``http_backend`` (every HTTP server: pooling,
  headers, retries, waits) and ``local_backend`` (in-process llama.cpp, ``local``);
- ``chain``: the one fallback-chain runner, with the circuit-breaker rules;
- ``routing``: which wire format and URL serve ``generate`` and ``chat`` for a model
  (the routing table is in its docstring); ``providers``: the router's provider table;
  ``mapping``: the Hub's provider mapping per model (cached);
- ``wire``: the wire-format interface; ``textgen`` (TGI native, hf-inference task
  route, toolkit ``POST /``) and ``openai_compat`` (chat and completions) implement it;
- ``transport``: httpx clients (proxies, CA bundles, no redirects), shared with doctor;
- ``records``/``metering``: one ``UpstreamCall`` record per upstream attempt;
- ``sse``: tolerant server-sent-events reader;
- ``errors``: typed errors and the one error-body parser;
- ``policy``: retry/wait defaults and the circuit breaker;
- ``auth``: the workspace-secret rule (``HostPolicy``).
"""

from .auth import HostPolicy
from .chain import ChainStream
from .client import InferenceClient
from .errors import (
    AuthError,
    BadRequestError,
    BudgetExceededError,
    ConnectError,
    EmptyAnswerError,
    GatedModelError,
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
from .records import CallObserver, UpstreamCall
from .types import (
    Answer,
    ChatMessage,
    GenerationParams,
    ServerLimits,
    WaitCallback,
    WaitEvent,
)

__all__ = [
    "Answer",
    "AuthError",
    "BadRequestError",
    "BudgetExceededError",
    "CallObserver",
    "ChainStream",
    "ChatMessage",
    "ConnectError",
    "EmptyAnswerError",
    "GatedModelError",
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
    "UpstreamCall",
    "UpstreamServerError",
    "UpstreamTimeoutError",
    "WaitCallback",
    "WaitEvent",
]
