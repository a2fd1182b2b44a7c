"""The HTTP backend: every model served over HTTP (router, Endpoints, TGI, OpenAI-style).

One attempt = one POST shaped and parsed by the target's wire format (``routing``
picks it); ``run`` retries attempts as ``policy`` says (cold models, waking endpoints,
429, transient 5xx), adapts the request once after a fixable rejection (unused
parameters, too many tokens), and never retries once text has reached the caller.

Cancellation: cancelling the calling task (or closing the generator early) aborts the
HTTP request at once; httpx closes the connection of an unfinished response, so the
upstream server sees the disconnect.

Secrets: the token from ``resolve_token`` is sent only to the model's own URL (and the
Hub API for the provider mapping), redirects are not followed, every message passes
through ``redact``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx
from cachetools import TLRUCache

from ..config.schema import ModelConfig
from ..config.tokens import resolve_token
from ..log import logger, redact
from . import openai_compat, textgen
from .auth import HostPolicy, has_credential_headers
from .backend import Emit, Request
from .errors import (
    BadRequestError,
    ConnectError,
    HostNotAllowedError,
    InferenceError,
    InputTooLongError,
    ModelLoadingError,
    ModelNotFoundError,
    ProtocolError,
    UnsupportedOperationError,
    UpstreamServerError,
    UpstreamTimeoutError,
    error_from_response,
    json_or_none,
)
from .mapping import (
    MAPPING_TTL_S,
    ProviderEntry,
    ProviderMappings,
    Score,
    chat_providers,
    pick_raw_prompt,
    policy_ranking,
    raw_prompt_capable,
)
from .metering import Meter
from .policy import RetryPolicy, RetryState
from .providers import HF_INFERENCE
from .routing import Engine, Router, Target, is_endpoint_url, pinned_provider, split_provider
from .sse import DONE, sse_events
from .transport import ClientPool, TransportSettings
from .types import ServerLimits, StreamPiece, WaitEvent, WaitKind
from .wire import Shaping

# How long a /info answer (or its absence) is trusted before asking again.
LIMITS_TTL_S = 600.0
LIMITS_FAILURE_TTL_S = 30.0

_STREAM_ERROR_STATUS = {
    "validation": 422,
    "overloaded": 429,
    "generation": 424,
    "incomplete_generation": 500,
}


@dataclass
class _Call:
    """One logical request's target and what retries have changed about it."""

    model: ModelConfig
    target: Target
    shaping: Shaping
    hold_s: float | None = None  # X-Scale-Up-Timeout for an Endpoint's proxy
    dropped_once: bool = False
    shrunk_once: bool = False
    tried_fallback: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)


class HttpBackend:
    def __init__(
        self,
        *,
        policy: RetryPolicy,
        user_agent: str,
        router: Router,
        clock: Callable[[], float],
    ) -> None:
        self.policy = policy
        self.user_agent = user_agent
        self.router = router
        self.host_policy = HostPolicy()
        self.pool = ClientPool()
        self._engines: dict[str, Engine] = {}
        self._engine_locks: dict[str, asyncio.Lock] = {}
        self._limits: TLRUCache[str, ServerLimits] = TLRUCache(
            maxsize=256, ttu=_limits_expiry, timer=clock
        )
        self._dropped: dict[str, frozenset[str]] = {}
        self._hf_legacy: set[str] = set()  # hf-inference models served by the task route
        self._raw_prompt: dict[str, bool] = {}
        self._told: set[str] = set()
        self.mappings = ProviderMappings(clock=clock)
        # The router's /v1/models/{id} answers (pricing, speed), for :cheapest/:fastest.
        self._router_models: TLRUCache[str, Any] = TLRUCache(
            maxsize=256, ttu=lambda _k, _v, now: now + MAPPING_TTL_S, timer=clock
        )

    async def aclose(self) -> None:
        await self.pool.aclose()

    # ----- transport -----------------------------------------------------------------

    def settings(self, model: ModelConfig) -> TransportSettings:
        return TransportSettings.for_model(model, restricted=self.host_policy.restricted)

    def client(self, model: ModelConfig) -> httpx.AsyncClient:
        try:
            return self.pool.get(self.settings(model))
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            raise ConnectError(
                f"cannot use the CA bundle: {redact(str(exc))}",
                model=model.name,
                model_id=model.model,
            ) from None

    def _timeout(self, model: ModelConfig, hold_s: float | None = None) -> httpx.Timeout:
        read = model.requestOptions.timeout + (hold_s or 0.0)
        return httpx.Timeout(
            connect=self.policy.connect_timeout_s, read=read, write=read, pool=read
        )

    def headers(
        self, model: ModelConfig, url: str, *, stream: bool, hold_s: float | None = None
    ) -> dict[str, str]:
        token = resolve_token(model)
        refusal = self.host_policy.refusal(
            model, url, token is not None or has_credential_headers(model)
        )
        if refusal:
            raise HostNotAllowedError(
                refusal, model=model.name, model_id=model.model, user_message=refusal
            )
        headers = {
            "User-Agent": self.user_agent,
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        headers.update(model.requestOptions.headers)
        if token is not None and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = f"Bearer {token.value.get_secret_value()}"
        if (
            model.billTo
            and self.router.is_router(model)
            and url.startswith(self.router.router_base)
        ):
            headers["X-HF-Bill-To"] = model.billTo
        if hold_s:
            headers["X-Scale-Up-Timeout"] = str(max(1, math.ceil(hold_s)))
        return headers

    async def _send(
        self,
        model: ModelConfig,
        method: str,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
        timeout: httpx.Timeout,
    ) -> httpx.Response:
        logger.debug("model '%s': %s %s", model.name, method, url)
        try:
            return await self.client(model).request(
                method, url, json=body, headers=headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise self._transport_error(model, url, exc) from None

    def _transport_error(
        self, model: ModelConfig, url: str, exc: httpx.HTTPError
    ) -> InferenceError:
        kw: dict[str, Any] = {"model": model.name, "model_id": model.model}
        if isinstance(exc, httpx.TimeoutException):
            if isinstance(exc, httpx.ConnectTimeout):
                return ConnectError(f"connection to {origin(url)} timed out", **kw)
            return UpstreamTimeoutError(
                f"no answer from {origin(url)} within {model.requestOptions.timeout:g} s", **kw
            )
        if isinstance(exc, (httpx.ConnectError, httpx.ProxyError)):
            return ConnectError(f"cannot connect to {origin(url)}: {redact(str(exc))}", **kw)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            # Cut off mid-answer (closed or reset): a network fault, not a format problem.
            why = redact(str(exc)) or type(exc).__name__
            return UpstreamServerError(f"{origin(url)} closed the connection: {why}", **kw)
        return ProtocolError(f"{origin(url)}: {redact(str(exc)) or type(exc).__name__}", **kw)

    def _error(
        self,
        model: ModelConfig,
        status: int,
        body: bytes | str | None,
        headers: Mapping[str, str] | None,
        url: str,
        *,
        error_type: str | None = None,
    ) -> InferenceError:
        return error_from_response(
            status,
            body,
            headers,
            model=model.name,
            model_id=model.model,
            # A model that names its endpoint in the config is one, whatever its URL.
            endpoint_host=is_endpoint_url(url) or model.endpoint is not None,
            error_type=error_type,
        )

    async def get_json(self, model: ModelConfig, url: str) -> Any:
        """GET ``url``: its JSON on success, None when the route is absent. Errors that
        every route would share (auth, waking, unreachable) are raised."""
        headers = self.headers(model, url, stream=False)
        response = await self._send(model, "GET", url, headers, None, self._timeout(model))
        if response.status_code < 400:
            return json_or_none(response.content)
        error = self._error(model, response.status_code, response.content, response.headers, url)
        if isinstance(error, (ModelNotFoundError, InputTooLongError)) or error.status in (
            400,
            405,
            422,
        ):
            return None
        raise error

    async def post_json(self, model: ModelConfig, url: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``url``: the answer's JSON; an error status raises its
        InferenceError, an answer that is not JSON a ProtocolError. No retries (for
        background work that tries again later, such as embeddings)."""
        headers = self.headers(model, url, stream=False)
        response = await self._send(model, "POST", url, headers, body, self._timeout(model))
        if response.status_code >= 400:
            raise self._error(model, response.status_code, response.content, response.headers, url)
        try:
            return json.loads(response.content)
        except ValueError:
            raise ProtocolError(
                f"{origin(url)} answered with something that is not JSON",
                model=model.name,
                model_id=model.model,
            ) from None

    # ----- engines, limits, provider mapping ----------------------------------------

    def _engine_key(self, model: ModelConfig) -> str:
        return f"{model.provider} {self.router.base(model)}"

    def known_engine(self, model: ModelConfig) -> Engine | None:
        return self.router.static_engine(model) or self._engines.get(self._engine_key(model))

    async def engine(self, model: ModelConfig) -> Engine:
        static = self.router.static_engine(model)
        if static is not None:
            return static
        key = self._engine_key(model)
        if key in self._engines:
            return self._engines[key]
        lock = self._engine_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._engines:
                self._engines[key] = await self._detect(model)
                logger.info(
                    "model '%s': %s serves the %s protocol",
                    model.name,
                    self.router.base(model),
                    self._engines[key],
                )
        return self._engines[key]

    async def _detect(self, model: ModelConfig) -> Engine:
        """TGI ``/info``, else OpenAI ``/v1/models``, else the toolkit's ``POST /``."""
        base = self.router.base(model)
        info = await self.get_json(model, f"{base}/info")
        if info is not None and textgen.looks_like_tgi_info(info):
            self._limits[f"{base}/info"] = textgen.parse_info(info)
            return "tgi"
        models = await self.get_json(model, openai_compat.join_v1(base, "models"))
        if isinstance(models, dict) and ("data" in models or models.get("object") == "list"):
            return "openai"
        return "toolkit"

    async def limits(self, model: ModelConfig) -> ServerLimits:
        """The server's token limits (TGI ``/info``), cached; all None when unknown."""
        try:
            engine = await self.engine(model)
        except InferenceError:
            return ServerLimits()
        if engine != "tgi":
            return ServerLimits()
        base = self.router.base(model)
        url = f"{base[:-3] if base.endswith('/v1') else base}/info"
        cached = self._limits.get(url)
        if cached is not None:
            return cached
        try:
            data = await self.get_json(model, url)
            value = textgen.parse_info(data) if data is not None else ServerLimits()
        except (InferenceError, ValueError) as exc:
            logger.debug("model '%s': no limits from %s: %s", model.name, url, exc)
            value = ServerLimits()
        self._limits[url] = value
        return value

    async def provider_mapping(self, model: ModelConfig) -> tuple[ProviderEntry, ...]:
        """The router's providers for this model (cached; raises on lookup failure)."""
        bare, _ = split_provider(model.model)

        async def fetch(url: str) -> Any:
            data = await self.get_json(model, url)
            if data is None:
                raise ModelNotFoundError(
                    "the Hub does not know this model",
                    model=model.name,
                    model_id=model.model,
                )
            return data

        return await self.mappings.get(bare, fetch)

    def cached_mapping(self, model: ModelConfig) -> tuple[ProviderEntry, ...] | None:
        return self.mappings.cached(split_provider(model.model)[0])

    async def raw_prompt_entry(self, model: ModelConfig) -> ProviderEntry:
        """The provider that serves raw-prompt completion for a router model."""
        pinned = pinned_provider(model.model)
        entries = await self.provider_mapping(model)
        entry = pick_raw_prompt(entries, pinned)
        if entry is None:
            raise self._no_raw_prompt(model, entries, pinned)
        if pinned is None and sum(e.live and raw_prompt_capable(e) for e in entries) > 1:
            ranking = await self._policy_ranking(model)
            entry = pick_raw_prompt(entries, None, ranking) or entry
        return entry

    async def _policy_ranking(self, model: ModelConfig) -> dict[str, Score]:
        """``:cheapest``/``:fastest``: the router's own pricing and speed figures for
        the model (``GET {router}/v1/models/{id}``, cached like the mapping)."""
        bare, policy = split_provider(model.model)
        if policy not in ("cheapest", "fastest"):
            return {}
        cached = self._router_models.get(bare)
        if cached is None:
            url = f"{self.router.router_base}/v1/models/{quote(bare, safe='/')}"
            try:
                cached = await self.get_json(model, url) or {}
            except InferenceError as exc:
                logger.info("model '%s': no pricing from the router (%s)", model.name, exc)
                cached = {}
            self._router_models[bare] = cached
        return policy_ranking(policy, cached)

    def _no_raw_prompt(
        self, model: ModelConfig, entries: tuple[ProviderEntry, ...], pinned: str | None
    ) -> UnsupportedOperationError:
        chat = chat_providers(entries)
        served = (
            f"it is served for chat by {', '.join(chat)}" if chat else "no live provider serves it"
        )
        who = f"provider '{pinned}' does not serve" if pinned else "no provider serves"
        message = (
            f"Model '{model.name}' ({model.model}): {who} it as text-generation through the "
            f"router, so it has no raw-prompt (fill-in-the-middle) route; {served}. For "
            "autocomplete use a model a provider serves as text-generation, an Inference "
            "Endpoint or TGI, or set `autocomplete: {via: chat}` on this model to complete "
            "through chat."
        )
        return UnsupportedOperationError(
            message, model=model.name, model_id=model.model, user_message=message
        )

    def supports_raw_prompt(self, model: ModelConfig) -> bool | None:
        """Whether ``generate`` has a text-generation route: True/False when known, None
        until the engine has been detected or the router's mapping is known."""
        engine = self.known_engine(model)
        if engine is None:
            return None
        if engine == "router":
            entries = self.cached_mapping(model)
            if entries is None:
                return self._raw_prompt.get(model.model)
            if pick_raw_prompt(entries, pinned_provider(model.model)) is None:
                return False
            return self._raw_prompt.get(model.model, True)
        return True

    # ----- one logical request -------------------------------------------------------

    async def _call(self, model: ModelConfig, request: Request) -> _Call:
        if model.unusable:
            raise BadRequestError(
                model.unusable, model=model.name, model_id=model.model, user_message=model.unusable
            )
        engine = await self.engine(model)
        target = await self._target(model, engine, request)
        limits = await self.limits(model) if target.info_url else ServerLimits()
        shaping = Shaping(limits, self._dropped.get(model.name, frozenset()))
        # Invoked work asks a waking Endpoint's proxy to hold the request from the start;
        # automatic completions never wait (they answer empty and show "waking").
        endpoint = target.endpoint_host or model.endpoint is not None
        hold = self.policy.scale_up_timeout_s if request.invoked and endpoint else None
        return _Call(model, target, shaping, hold_s=hold)

    async def _target(self, model: ModelConfig, engine: Engine, request: Request) -> Target:
        if engine != "router":
            if request.kind == "chat":
                return self.router.chat_target(model, engine)
            return self.router.generate_target(model, engine)
        if request.kind == "chat":
            entry = None
            pinned = pinned_provider(model.model)
            if pinned is not None:
                try:
                    entries = await self.provider_mapping(model)
                except InferenceError as exc:
                    # The router's own routing honours ``id:provider`` too.
                    logger.info("model '%s': no provider mapping (%s)", model.name, exc)
                    entries = ()
                entry = next((e for e in entries if e.provider == pinned), None)
            return self.router.router_chat_target(model, entry)
        target = self.router.router_generate_target(model, await self.raw_prompt_entry(model))
        if target.fallback is not None and model.model in self._hf_legacy:
            return target.fallback
        return target

    def _adapt(self, call: _Call, error: InferenceError) -> bool:
        """Change the request once after a fixable rejection; True to retry at once."""
        unused = getattr(error, "unused_params", ())
        if unused and not call.dropped_once:
            call.dropped_once = True
            dropped = call.shaping.dropped | frozenset(unused)
            call.shaping = replace(call.shaping, dropped=dropped)
            # Remember per model, so the next request does not pay for the lesson again.
            self._dropped[call.model.name] = dropped
            logger.info(
                "model '%s': dropping unsupported parameters %s",
                call.model.name,
                ", ".join(sorted(unused)),
            )
            return True
        if (
            isinstance(error, InputTooLongError)
            and not call.shrunk_once
            and error.limit_tokens is not None
            and error.input_tokens is not None
            and error.max_new_tokens is not None
            and error.limit_tokens - error.input_tokens >= 1
        ):
            call.shrunk_once = True
            call.shaping = replace(
                call.shaping, max_tokens_cap=error.limit_tokens - error.input_tokens
            )
            return True
        fallback = call.target.fallback
        if fallback is not None and not call.tried_fallback and error.status in (404, 405):
            # hf-inference serves this model only through its older task route.
            call.tried_fallback = True
            call.target = fallback
            self._hf_legacy.add(call.model.model)
            logger.info(
                "model '%s': %s has no OpenAI completions route; using its task route",
                call.model.name,
                HF_INFERENCE,
            )
            return True
        return False

    def _wait_event(
        self, request: Request, model: ModelConfig, kind: WaitKind, message: str, seconds: float
    ) -> None:
        logger.info("%s", message)
        if request.on_wait is not None:
            try:
                request.on_wait(WaitEvent(kind, model.name, redact(message), seconds))
            except Exception:  # a broken progress reporter must not break inference
                logger.exception("wait callback failed")

    async def run(
        self, model: ModelConfig, request: Request, emit: Emit
    ) -> AsyncGenerator[StreamPiece, None]:
        state = RetryState(self.policy)
        call: _Call | None = None
        while True:
            started = False
            try:
                if call is None:
                    call = await self._call(model, request)
                # aclosing: a consumer that stops early closes the HTTP response now.
                async with contextlib.aclosing(self._attempt(call, request, emit)) as pieces:
                    async for piece in pieces:
                        started = started or bool(piece.text)
                        yield piece
            except InferenceError as error:
                if not started and call is not None and self._adapt(call, error):
                    continue
                # Once text has reached the caller, a retry would repeat it: fail instead.
                decision = None if started else state.next(error)
                if decision is None:
                    self._learn_failure(model, request, error)
                    raise error
                self._wait_event(request, model, decision.kind, decision.message, decision.delay_s)
                if not request.invoked and isinstance(error, ModelLoadingError):
                    # Automatic completions never queue behind a cold start or a waking
                    # endpoint: the editor is told why (above), this request ends now.
                    raise error
                if call is not None and decision.scale_up_timeout_s and request.invoked:
                    call.hold_s = decision.scale_up_timeout_s
                await asyncio.sleep(decision.delay_s)
                continue
            if request.kind == "generate":
                self._raw_prompt[model.model] = True
            return

    def _learn_failure(self, model: ModelConfig, request: Request, error: InferenceError) -> None:
        if (
            request.kind == "generate"
            and isinstance(error, ModelNotFoundError)
            and self.router.static_engine(model) == "router"
        ):
            self._raw_prompt[model.model] = False

    async def _raise_for_status(
        self, model: ModelConfig, response: httpx.Response, url: str
    ) -> None:
        """The typed error for an HTTP error answer, raised; nothing for a success."""
        if response.status_code >= 400:
            content = await response.aread()
            raise self._error(model, response.status_code, content, response.headers, url)

    def _attempt_failure(
        self, model: ModelConfig, url: str, exc: httpx.HTTPError | ValueError
    ) -> InferenceError:
        """The typed error for a failed transport or an answer that cannot be parsed."""
        if isinstance(exc, httpx.HTTPError):
            return self._transport_error(model, url, exc)
        return ProtocolError(
            f"unexpected answer from {origin(url)}: {exc}",
            model=model.name,
            model_id=model.model,
        )

    async def _attempt(
        self, call: _Call, request: Request, emit: Emit
    ) -> AsyncGenerator[StreamPiece, None]:
        """One HTTP request; one call record whatever happens."""
        target, model = call.target, call.model
        url = target.stream_url if request.stream else target.url
        headers = self.headers(model, url, stream=request.stream, hold_s=call.hold_s)
        body = target.wire.body(
            target.model_field,
            request.payload,
            request.params,
            call.shaping,
            stream=request.stream,
        )
        meter = Meter(
            emit,
            model=model.name,
            model_id=target.model_field or model.model,
            provider=target.served_by,
            role=request.role,
            operation=request.operation,
            prompt_text=request.prompt_text,
            stream=request.stream,
        )
        timeout = self._timeout(model, call.hold_s)
        logger.debug(
            "model '%s': POST %s%s", model.name, url, " (stream)" if request.stream else ""
        )
        failure: BaseException | None = None
        try:
            async with self.client(model).stream(
                "POST", url, json=body, headers=headers, timeout=timeout
            ) as response:
                await self._raise_for_status(model, response, url)
                if not request.stream or "text/event-stream" not in response.headers.get(
                    "content-type", ""
                ):
                    # A whole answer (or a server that ignored "stream").
                    data = json.loads(await response.aread())
                    piece = replace(target.wire.parse(data, response.headers), done=True)
                    meter.piece(piece)
                    yield piece
                    return
                async for event in sse_events(response.aiter_lines()):
                    if event is DONE:
                        return
                    piece = target.wire.parse_event(event)
                    if piece.error is not None:
                        raise self._stream_error(model, piece, url)
                    meter.piece(piece)
                    yield piece
                    if piece.done:
                        return
        except (httpx.HTTPError, ValueError) as exc:
            failure = self._attempt_failure(model, url, exc)
            raise failure from None
        except BaseException as exc:
            failure = exc
            raise
        finally:
            if not isinstance(failure, ConnectError):  # nothing reached a server
                meter.finish(failure)

    def _stream_error(self, model: ModelConfig, piece: StreamPiece, url: str) -> InferenceError:
        status = piece.error_status or _STREAM_ERROR_STATUS.get(piece.error_type or "", 500)
        return self._error(
            model,
            status,
            json.dumps({"error": piece.error}),
            None,
            url,
            error_type=piece.error_type,
        )


def _limits_expiry(_key: str, value: ServerLimits, now: float) -> float:
    return now + (LIMITS_TTL_S if value != ServerLimits() else LIMITS_FAILURE_TTL_S)


def origin(url: str) -> str:
    """Scheme, host and port only: paths can hold model ids but never need to be shown."""
    parts = httpx.URL(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}"
