"""Retry, wait and circuit-breaker policy: every number in one place.

Defaults (why):
- A cold model (503 + ``estimated_time``) is polled after about its estimate, each wait
  clamped to 1–20 s, for at most 120 s in total: hf-inference loads most models well
  under a minute and the editor shows progress meanwhile; the user can cancel.
- A waking Inference Endpoint (502/503 from ``*.endpoints.huggingface.cloud``) gets the
  same 120 s budget with backoff 2, 4, 8… s (cap 20 s); invoked work asks the proxy to
  hold the request (``X-Scale-Up-Timeout``) from its first request on, automatic
  completions never wait (they answer empty at once and show "waking").
- 429 (rate limited or TGI's "overloaded"): up to 3 retries, honouring ``Retry-After`` /
  ``RateLimit: t=`` when given (a hint over 30 s is not waited for: the error goes up
  instead), otherwise 1, 2, 4 s; all waits jittered ±25 % so clients do not retry in lock-step.
- 5xx (JSON) and 424: 2 retries after 0.5, 1 s: transient engine faults usually clear
  fast, and a longer wait is worse than falling back to the next model.
- 401/402/403/404, timeouts, connection refused: never retried (a retry cannot help or
  would double a long wait); the fallback chain takes over.
- Circuit breaker: 3 consecutive health failures open it for 30 s (doubling on a failed
  probe, up to 5 min); then one probe request may try the model again. One isolated
  failure never disables a model.

``$BYTEBUDDY_RETRY_SCALE`` (a number > 0, for tests and benchmarks of the real server
process) multiplies the waits this policy chooses itself (model-loading budget and
polls, backoffs, breaker cooldowns); waits a server asks for (``Retry-After``) and the
cap on them are left alone, and so are the retry counts.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..log import logger
from .errors import (
    InferenceError,
    ModelLoadingError,
    OverloadedError,
    ThrottledError,
    UpstreamServerError,
)
from .types import WaitKind

RETRY_SCALE_ENV = "BYTEBUDDY_RETRY_SCALE"


@dataclass(frozen=True)
class RetryPolicy:
    max_wait_for_model_s: float = 120.0
    loading_poll_min_s: float = 1.0
    loading_poll_max_s: float = 20.0
    waking_backoff_base_s: float = 2.0
    scale_up_timeout_s: float = 120.0
    rate_limit_retries: int = 3
    rate_limit_base_s: float = 1.0
    rate_limit_max_wait_s: float = 30.0
    server_error_retries: int = 2
    server_error_base_s: float = 0.5
    jitter: float = 0.25
    connect_timeout_s: float = 5.0
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 30.0
    breaker_max_cooldown_s: float = 300.0

    def scaled(self, factor: float) -> RetryPolicy:
        """The same policy with its own waits multiplied by ``factor``."""
        return replace(
            self,
            max_wait_for_model_s=self.max_wait_for_model_s * factor,
            loading_poll_min_s=self.loading_poll_min_s * factor,
            loading_poll_max_s=self.loading_poll_max_s * factor,
            waking_backoff_base_s=self.waking_backoff_base_s * factor,
            scale_up_timeout_s=self.scale_up_timeout_s * factor,
            rate_limit_base_s=self.rate_limit_base_s * factor,
            server_error_base_s=self.server_error_base_s * factor,
            breaker_cooldown_s=self.breaker_cooldown_s * factor,
            breaker_max_cooldown_s=self.breaker_max_cooldown_s * factor,
        )

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """The default policy, scaled by ``$BYTEBUDDY_RETRY_SCALE`` when it is set."""
        raw = os.environ.get(RETRY_SCALE_ENV, "").strip()
        if not raw:
            return cls()
        try:
            factor = float(raw)
        except ValueError:
            factor = 0.0
        if not 0 < factor < float("inf"):
            logger.warning("%s must be a number > 0, got %r: ignored", RETRY_SCALE_ENV, raw)
            return cls()
        return cls().scaled(factor)

    def jittered(self, seconds: float) -> float:
        if self.jitter <= 0 or seconds <= 0:
            return seconds
        return max(0.0, seconds * random.uniform(1 - self.jitter, 1 + self.jitter))


@dataclass(frozen=True)
class RetryDecision:
    delay_s: float
    kind: WaitKind
    message: str
    scale_up_timeout_s: float | None = None  # ask an Endpoint proxy to hold the next request


class RetryState:
    """Counts what one logical request has spent so far, and decides the next step."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.waited_for_model_s = 0.0
        self.rate_limit_retries = 0
        self.server_error_retries = 0
        self.waking_attempts = 0

    def next(self, error: InferenceError) -> RetryDecision | None:
        """How long to wait before retrying, or None to give up."""
        policy = self.policy
        who = f"Model '{error.model}'" if error.model else "The model"
        if isinstance(error, ModelLoadingError):
            remaining = policy.max_wait_for_model_s - self.waited_for_model_s
            if remaining <= 0:
                return None
            if error.waking:
                self.waking_attempts += 1
                delay = min(
                    policy.waking_backoff_base_s * 2 ** (self.waking_attempts - 1),
                    policy.loading_poll_max_s,
                    remaining,
                )
                self.waited_for_model_s += delay
                hold = min(policy.scale_up_timeout_s, max(remaining - delay, 0.0))
                return RetryDecision(
                    delay,
                    "waking",
                    f"{who}: the endpoint is waking up (scaled to zero); waiting",
                    scale_up_timeout_s=hold or None,
                )
            estimate = error.estimated_time or policy.loading_poll_min_s
            delay = min(
                max(estimate, policy.loading_poll_min_s), policy.loading_poll_max_s, remaining
            )
            self.waited_for_model_s += delay
            eta = f" (about {error.estimated_time:.0f} s)" if error.estimated_time else ""
            return RetryDecision(delay, "loading", f"{who} is loading{eta}; waiting")
        if isinstance(error, ThrottledError):
            if self.rate_limit_retries >= policy.rate_limit_retries:
                return None
            hint = error.retry_after  # TGI's queue-full 429 may carry Retry-After too
            if hint is not None and hint > policy.rate_limit_max_wait_s:
                return None
            self.rate_limit_retries += 1
            if hint is not None:
                delay = hint
            else:
                delay = policy.jittered(
                    policy.rate_limit_base_s * 2 ** (self.rate_limit_retries - 1)
                )
            what = "is overloaded" if isinstance(error, OverloadedError) else "is rate limited"
            return RetryDecision(delay, "rate_limited", f"{who} {what}; retrying in {delay:.0f} s")
        if isinstance(error, UpstreamServerError):
            budget = 1 if error.status == 424 else policy.server_error_retries
            if self.server_error_retries >= budget:
                return None
            self.server_error_retries += 1
            delay = policy.jittered(
                policy.server_error_base_s * 2 ** (self.server_error_retries - 1)
            )
            return RetryDecision(delay, "retrying", f"{who}: server error; retrying")
        return None


BreakerState = Literal["closed", "open", "half-open"]


@dataclass
class _Breaker:
    consecutive_failures: int = 0
    opened_at: float | None = None
    cooldown_s: float = 0.0
    probing: bool = False
    last_error: str | None = None
    total_failures: int = 0
    total_successes: int = 0


@dataclass
class CircuitBreakers:
    """Per-model health. ``clock`` is injectable so tests need not sleep."""

    policy: RetryPolicy
    clock: Any = time.monotonic
    _breakers: dict[str, _Breaker] = field(default_factory=dict)

    def _get(self, name: str) -> _Breaker:
        return self._breakers.setdefault(name, _Breaker())

    def state(self, name: str) -> BreakerState:
        breaker = self._get(name)
        if breaker.opened_at is None:
            return "closed"
        if self.clock() - breaker.opened_at >= breaker.cooldown_s:
            return "half-open"
        return "open"

    def allow(self, name: str) -> bool:
        """Whether a request may go to this model now (a half-open model admits one probe)."""
        state = self.state(name)
        if state == "closed":
            return True
        if state == "half-open" and not self._get(name).probing:
            self._get(name).probing = True
            return True
        return False

    def record_success(self, name: str) -> None:
        breaker = self._get(name)
        breaker.consecutive_failures = 0
        breaker.opened_at = None
        breaker.cooldown_s = 0.0
        breaker.probing = False
        breaker.total_successes += 1

    def record_failure(self, name: str, error: InferenceError) -> None:
        breaker = self._get(name)
        breaker.last_error = error.user_message
        if not error.counts_against_model:
            breaker.probing = False
            return
        breaker.total_failures += 1
        breaker.consecutive_failures += 1
        if breaker.probing or breaker.opened_at is not None:
            # A failed probe: stay open, and wait longer before the next one.
            breaker.cooldown_s = min(breaker.cooldown_s * 2, self.policy.breaker_max_cooldown_s)
            breaker.opened_at = self.clock()
        elif breaker.consecutive_failures >= self.policy.breaker_threshold:
            breaker.cooldown_s = self.policy.breaker_cooldown_s
            breaker.opened_at = self.clock()
        breaker.probing = False

    def release_probe(self, name: str) -> None:
        """A probe ended without a verdict (cancelled): let the next request probe."""
        self._get(name).probing = False

    def health(self, name: str) -> dict[str, Any]:
        breaker = self._get(name)
        state = self.state(name)
        retry_in = None
        if state == "open" and breaker.opened_at is not None:
            retry_in = max(0.0, breaker.opened_at + breaker.cooldown_s - self.clock())
        return {
            "name": name,
            "state": state,
            "consecutiveFailures": breaker.consecutive_failures,
            "totalFailures": breaker.total_failures,
            "totalSuccesses": breaker.total_successes,
            "lastError": breaker.last_error,
            "retryInSeconds": retry_in,
        }
