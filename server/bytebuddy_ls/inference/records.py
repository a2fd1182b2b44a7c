"""One record per upstream attempt: what the usage ledger, budgets and metrics consume.

``InferenceClient.add_observer(observer)`` registers a ``CallObserver``; every attempt
that reaches a server (or the local model) emits exactly one ``UpstreamCall``, including
cancelled ones (with what was generated so far) and errors. Token counts come from the
server when it reports them (OpenAI ``usage``, TGI ``details``/``x-*-tokens`` headers);
otherwise they are estimates and ``estimated`` is True.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    started: float              # time.time() when the call began
    model: str                  # config model name
    model_id: str               # id sent upstream (provider id / served id)
    provider: str               # who served: router provider name ("together", "hf-inference", ...),
                                # "endpoint", "tgi", "openai", "llamacpp"
    role: str                   # chat | edit | apply | autocomplete | embed
    operation: str              # autocomplete | chat | edit | apply | explain | embed | warmup | ...
    prompt_tokens: int
    completion_tokens: int
    estimated: bool             # True when counts are estimates, not reported by the server
    latency_s: float
    ttft_s: float | None        # time to first token (streams), else None
    outcome: str                # "ok" | "cancelled" | an error kind, e.g. "rate_limited", "auth"
    finish_reason: str | None = None
    # The prompt as sent (chat messages joined), for the audit log's hash; kept out of
    # repr and comparisons so it never lands in a log line by accident.
    prompt: str | None = field(default=None, repr=False, compare=False)


CallObserver = Callable[[UpstreamCall], None]   # cheap, called on the event loop, never raises
