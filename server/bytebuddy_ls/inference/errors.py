"""Typed inference errors and the one tolerant parser for every error body shape.

Upstream servers answer errors as ``{"error": "str"}``, ``{"error": ["str", ...]}``,
``{"error": {"message": ...}}``, ``{"message": ...}``, ``{"detail": ...}``, plain text,
HTML, or nothing at all with an ``X-Error-Message`` header. ``error_message`` turns any
of these into one line; ``error_from_response`` turns status + message into the right
exception. Every message shown to users passes through ``redact``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

from ..log import redact

_MAX_MESSAGE_CHARS = 300


class InferenceError(Exception):
    """Base of every error the inference client raises.

    ``user_message`` is actionable (names the model and says what to do); ``detail`` is
    the upstream's own words; ``retryable`` says whether the same request may succeed
    later; ``counts_against_model`` says whether it is a sign of an unhealthy model
    (fed to the circuit breaker) rather than of a bad request.
    """

    retryable = False
    counts_against_model = True
    hint = ""
    kind = "error"  # the outcome word in call records and metrics

    def __init__(
        self,
        detail: str,
        *,
        model: str | None = None,
        model_id: str | None = None,
        status: int | None = None,
        user_message: str | None = None,
    ) -> None:
        self.detail = redact(detail)
        self.model = model
        self.model_id = model_id
        self.status = status
        self.user_message = redact(user_message or self._compose())
        super().__init__(self.user_message)

    def _compose(self) -> str:
        who = f"Model '{self.model}'" if self.model else "The model"
        if self.model_id and self.model_id != self.model:
            who += f" ({self.model_id})"
        status = f"HTTP {self.status}: " if self.status else ""
        text = f"{who}: {status}{self.detail}".rstrip(": ")
        if self.hint:
            text += f". {self.hint}" if not text.endswith(".") else f" {self.hint}"
        return text


# One class per failure, alike in shape on purpose: callers and the retry policy catch
# them by type, and each names its ``kind`` and ``hint`` where it is declared.


class AuthError(InferenceError):
    kind = "auth"
    hint = (
        "Check the token: set apiKey in the config, or HF_TOKEN, or run "
        "`huggingface-cli login` (the token needs the 'Make calls to Inference Providers' "
        "permission)"
    )


class GatedModelError(AuthError):
    """403 with ``X-Error-Code: GatedRepo``: the token is fine, the licence is not accepted."""

    kind = "gated"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        model_id = str(kwargs.get("model_id") or "").split(":", 1)[0]
        page = f"https://huggingface.co/{model_id}" if model_id else "the model's Hub page"
        self.hint = (
            f"The model is gated: accept its licence at {page} (logged in as the token's "
            "owner), then try again"
        )
        super().__init__(detail, **kwargs)


class PaymentRequiredError(InferenceError):
    kind = "payment_required"
    hint = (
        "The account is out of inference credits: add credits or a billing method at "
        "https://huggingface.co/settings/billing, or use another model"
    )


class ModelNotFoundError(InferenceError):
    kind = "not_found"
    hint = "Check the model id (and apiBase) in the config, or pick a model your providers serve"


class ModelLoadingError(InferenceError):
    retryable = True
    kind = "loading"

    def __init__(
        self,
        detail: str,
        *,
        estimated_time: float | None = None,
        waking: bool = False,
        **kwargs: Any,
    ) -> None:
        self.estimated_time = estimated_time
        self.waking = waking  # an Inference Endpoint scaled to zero, rather than a cold model
        if waking:
            self.kind = "waking"
            # The upstream's words (often a proxy's "502 Bad Gateway") do not say why.
            self.hint = (
                "The endpoint is waking up (scaled to zero) or still starting; "
                "try again in a minute"
            )
        super().__init__(detail, **kwargs)


class ThrottledError(InferenceError):
    """The server asks us to slow down; ``retry_after`` is how long it said to wait
    (``Retry-After``), if it said."""

    retryable = True

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(detail, **kwargs)


class RateLimitedError(ThrottledError):
    kind = "rate_limited"
    hint = "Too many requests; wait a moment or use another model"


class OverloadedError(ThrottledError):
    kind = "overloaded"
    hint = "The server is overloaded; try again shortly"


class InputTooLongError(InferenceError):
    counts_against_model = False
    kind = "input_too_long"
    hint = "The prompt is too long for this model; use a smaller context"

    def __init__(
        self,
        detail: str,
        *,
        limit_tokens: int | None = None,
        input_tokens: int | None = None,
        max_new_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.limit_tokens = limit_tokens
        self.input_tokens = input_tokens
        self.max_new_tokens = max_new_tokens
        super().__init__(detail, **kwargs)


class UpstreamServerError(InferenceError):
    retryable = True
    kind = "server_error"


class UpstreamTimeoutError(InferenceError):
    kind = "timeout"
    hint = "The server did not answer in time; raise requestOptions.timeout or try again"


class ConnectError(InferenceError):
    kind = "connect"
    hint = "Check apiBase and that the server is running and reachable"


class ProtocolError(InferenceError):
    kind = "protocol"
    hint = "The server's answer was not in the expected format; check provider and apiBase"


class HostNotAllowedError(InferenceError):
    counts_against_model = False
    kind = "host_not_allowed"


class BadRequestError(InferenceError):
    counts_against_model = False
    kind = "bad_request"

    def __init__(self, detail: str, *, unused_params: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.unused_params = unused_params
        super().__init__(detail, **kwargs)


class UnsupportedOperationError(InferenceError):
    """The route cannot serve this operation (e.g. raw-prompt generation on a chat-only
    router model)."""

    counts_against_model = False
    kind = "unsupported"


class BudgetExceededError(InferenceError):
    """A used-up budget (config ``budgets``, ``onExceed: block``) stops requests to this
    model; the message says which budget and how to raise it. Not sent upstream."""

    counts_against_model = False
    kind = "budget"


class EmptyAnswerError(InferenceError):
    """The model answered nothing (it stopped at once): reported, not shown as success."""

    counts_against_model = False
    kind = "empty"
    hint = "Try again, rephrase the request, or use another model"


def error_message(body: bytes | str | None, headers: Mapping[str, str] | None = None) -> str:
    """One line of text from any error body shape the reference lists."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    text = text.strip()
    message = ""
    if text:
        try:
            message = _message_from_json(json.loads(text))
        except ValueError:
            message = _plain(text)
    if not message and headers is not None:
        message = headers.get("x-error-message", "") or ""
    return _shorten(redact(message))


def _message_from_json(data: Any) -> str:
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(m for m in (_message_from_json(item) for item in data) if m)
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "msg", "error_message"):
            if key in data and data[key] not in (None, "", [], {}):
                return _message_from_json(data[key])
        return ""
    return "" if data is None else str(data)


def _plain(text: str) -> str:
    if "<" in text and ">" in text:  # an HTML error page from a proxy
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    return text


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 1] + "…"


def json_or_none(body: bytes | str | None) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


_LENGTH_PATTERNS = (
    # `inputs` tokens + `max_new_tokens` must be <= 2048.
    #   Given: 1900 `inputs` tokens and 256 `max_new_tokens`
    re.compile(
        r"must be <= (?P<limit>\d+)\. Given: (?P<inputs>\d+) `inputs` tokens and "
        r"(?P<new>\d+) `max_new_tokens`"
    ),
    # `inputs` must have less than 1024 tokens. Given: 1500
    re.compile(r"`inputs` must have less than (?P<limit>\d+) tokens\. Given: (?P<inputs>\d+)"),
    re.compile(r"(?i)maximum context length is (?P<limit>\d+) tokens.*?(?P<inputs>\d+) tokens"),
)
_UNUSED_KWARGS = re.compile(
    r"model_kwargs`? are not used by the model: \[(?P<names>[^\]]*)\]"
)


def _hub_error(hub_code: str, message: str, kw: dict[str, Any]) -> InferenceError | None:
    """The error the Hub's ``X-Error-Code`` names (gated, missing or disabled repository)."""
    if hub_code == "GatedRepo":
        return GatedModelError(message or "gated model", **kw)
    if hub_code in ("RepoNotFound", "DisabledRepo"):
        words = "disabled on the Hub" if hub_code == "DisabledRepo" else "not found or private"
        return ModelNotFoundError(message or f"model {words}", **kw)
    return None


# Statuses about the caller's account: its token, its permissions, its credit.
_ACCOUNT_ERRORS: dict[int, tuple[type[InferenceError], str]] = {
    401: (AuthError, "unauthorized"),
    403: (AuthError, "forbidden"),
    402: (PaymentRequiredError, "payment required"),
}


def _not_found_error(status: int, message: str, kw: dict[str, Any]) -> InferenceError:
    if status == 410:
        message = (message or "gone") + " (this API is retired; use the router)"
    return ModelNotFoundError(message or "not found", **kw)


def _throttled_error(
    message: str, retry_after: float | None, overloaded: bool, kw: dict[str, Any]
) -> InferenceError:
    if overloaded:
        return OverloadedError(message or "overloaded", retry_after=retry_after, **kw)
    return RateLimitedError(message or "rate limited", retry_after=retry_after, **kw)


def _loading_error(message: str, data: Any, kw: dict[str, Any]) -> InferenceError:
    """A cold start, with the server's estimate of the wait when it gave one."""
    estimated = data.get("estimated_time") if isinstance(data, dict) else None
    seconds = float(estimated) if isinstance(estimated, (int, float)) else None
    return ModelLoadingError(message or "model is loading", estimated_time=seconds, **kw)


def _validation_error(message: str, kw: dict[str, Any]) -> InferenceError:
    """A rejected request: an input over the context length (with the numbers, so the
    prompt can be cut to fit), parameters the model does not take, or another bad request."""
    for pattern in _LENGTH_PATTERNS:
        match = pattern.search(message)
        if match:
            groups = match.groupdict()
            return InputTooLongError(
                message,
                limit_tokens=int(groups["limit"]),
                input_tokens=int(groups["inputs"]),
                max_new_tokens=int(groups["new"]) if groups.get("new") else None,
                **kw,
            )
    unused = _UNUSED_KWARGS.search(message)
    names = tuple(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", unused.group("names"))) if unused else ()
    if "invalid state" in message.lower():
        message += " (the Inference Endpoint may be paused: resume it in its settings)"
    return BadRequestError(message or "bad request", unused_params=names, **kw)


def error_from_response(
    status: int,
    body: bytes | str | None,
    headers: Mapping[str, str] | None = None,
    *,
    model: str | None = None,
    model_id: str | None = None,
    endpoint_host: bool = False,
    error_type: str | None = None,
) -> InferenceError:
    """The typed error for an HTTP error answer (or an error event inside a stream).

    ``endpoint_host``: the URL is an Inference Endpoint's (``*.endpoints.huggingface.cloud``),
    whose proxy answers 502/503 (JSON, HTML or empty) while a scaled-to-zero replica
    starts. Anywhere else a 5xx is a server error, except a 503 that says the model is
    loading (hf-inference's cold start).
    """
    data = json_or_none(body)
    message = error_message(body, headers)
    if isinstance(data, dict) and error_type is None and isinstance(data.get("error_type"), str):
        error_type = data["error_type"]
    nested = data.get("error") if isinstance(data, dict) else None
    code = nested.get("code") if isinstance(nested, dict) else None
    kw: dict[str, Any] = {"model": model, "model_id": model_id, "status": status or None}
    lowered = message.lower()
    hub_code = (headers.get("x-error-code") or "") if headers is not None else ""

    hub_error = _hub_error(hub_code, message, kw)
    if hub_error is not None:
        return hub_error
    if status in (502, 503) and endpoint_host:
        return ModelLoadingError(message or "endpoint is starting", waking=True, **kw)
    if status in _ACCOUNT_ERRORS:
        kind, default = _ACCOUNT_ERRORS[status]
        return kind(message or default, **kw)
    if (
        status in (404, 410)
        or code == "model_not_supported"
        or "not supported by any provider" in lowered
    ):
        return _not_found_error(status, message, kw)
    if status == 429 or error_type == "overloaded":
        overloaded = error_type == "overloaded" or "overloaded" in lowered
        return _throttled_error(message, retry_after_seconds(headers), overloaded, kw)
    if status == 413:
        return InputTooLongError(message or "payload too large", **kw)
    if status == 503 and (
        (isinstance(data, dict) and "estimated_time" in data) or "loading" in lowered
    ):
        return _loading_error(message, data, kw)
    if status in (422, 400) or error_type == "validation":
        return _validation_error(message, kw)
    return _other_status_error(status, error_type, message, kw)


def _other_status_error(
    status: int, error_type: str | None, message: str, kw: dict[str, Any]
) -> InferenceError:
    """What is left once the answer named no known cause: by status class."""
    if status == 504:
        return UpstreamTimeoutError(message or "gateway timeout", **kw)
    if status >= 500 or status == 424 or error_type in ("generation", "incomplete_generation"):
        return UpstreamServerError(message or "server error", **kw)
    if 400 <= status < 500:
        return BadRequestError(message or f"HTTP {status}", **kw)
    return ProtocolError(message or f"unexpected HTTP status {status}", **kw)


def _parse_retry_after(value: str) -> float | None:
    """A ``Retry-After`` value, seconds or an HTTP date (a past date is 0); None when it is
    neither."""
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``RateLimit: ...;t=<s>``."""
    if headers is None:
        return None
    value = headers.get("retry-after")
    if value:
        seconds = _parse_retry_after(value.strip())
        if seconds is not None:
            return seconds
    ratelimit = headers.get("ratelimit")
    if ratelimit:
        match = re.search(r"(?:^|[;,\s])t=(\d+(?:\.\d+)?)", ratelimit)
        if match:
            return float(match.group(1))
    reset = headers.get("ratelimit-reset") or headers.get("x-ratelimit-reset-requests")
    if reset:
        try:
            return max(0.0, float(reset))
        except ValueError:
            return None
    return None
