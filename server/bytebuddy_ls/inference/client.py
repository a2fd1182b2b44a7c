"""The inference client: one shared HTTP pool, retries, waits, fallback chains.

Every feature calls ``generate``/``chat`` (or their streaming twins); the protocol
modules shape bodies and parse answers, ``routing`` picks URLs, ``policy`` decides waits
and retries, ``auth`` guards where credentials go. See ``routing`` for the routing table.

Cancellation: cancelling the calling task (or closing a stream early) aborts the HTTP
request at once; httpx closes the connection of an unfinished response, so the upstream
server sees the disconnect. Close a stream you stop reading early with ``aclose()``
(``contextlib.aclosing``), or it is closed only when garbage-collected.

Secrets: the token from ``resolve_token`` is sent only to the model's own URL, redirects
are not followed, and every message passes through ``redact``.

Provider ``llamacpp`` has no HTTP at all: its models go to ``local.LocalInference``
(in-process llama.cpp) with the same operations, minus retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

from .. import __version__
from ..config.schema import ROUTER_BASE, ModelConfig
from ..config.tokens import resolve_token
from ..log import logger, redact
from . import openai_compat, textgen
from .auth import HostPolicy, has_credential_headers
from .errors import (
    BadRequestError,
    ConnectError,
    HostNotAllowedError,
    InferenceError,
    InputTooLongError,
    ModelNotFoundError,
    ProtocolError,
    UnsupportedOperationError,
    UpstreamServerError,
    UpstreamTimeoutError,
    error_from_response,
    json_or_none,
)
from .local import LocalInference
from .policy import CircuitBreakers, RetryPolicy, RetryState
from .routing import Engine, Router, Target
from .sse import DONE, sse_events
from .types import (
    ChatMessage,
    GenerationParams,
    ServerLimits,
    StreamPiece,
    WaitCallback,
    WaitEvent,
)

T = TypeVar("T")

# How long a /info answer (or its absence) is trusted before asking again.
LIMITS_TTL_S = 600.0
LIMITS_FAILURE_TTL_S = 30.0
# Environment override of the router's base URL, for end-to-end tests against a loopback
# server (the router's host is otherwise fixed).
ROUTER_URL_ENV = "BYTEBUDDY_ROUTER_URL"

_STREAM_ERROR_STATUS = {
    "validation": 422,
    "overloaded": 429,
    "generation": 424,
    "incomplete_generation": 500,
}


@dataclass
class _Adjustments:
    """What a retry changes in the request after the server told us what it rejects."""

    dropped: frozenset[str] = frozenset()
    max_new_tokens_cap: int | None = None
    scale_up_timeout_s: float | None = None
    dropped_once: bool = False
    shrunk_once: bool = False


@dataclass
class _Call:
    model: ModelConfig
    target: Target
    limits: ServerLimits
    adjust: _Adjustments = field(default_factory=_Adjustments)


class ChainStream:
    """A streamed answer from a fallback chain; ``.model`` is the model that serves it,
    known once the first chunk (or the end of an empty answer) has arrived.

    Use as ``async with client.stream_chat_chain(...) as stream: async for delta in stream``.
    """

    def __init__(self, source: Callable[[ChainStream], AsyncIterator[str]]) -> None:
        self.model: ModelConfig | None = None
        self._iterator = source(self)

    def __aiter__(self) -> ChainStream:
        return self

    async def __anext__(self) -> str:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> ChainStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class ModelPreparer(Protocol):
    """Runs before every remote call of a model: may replace the model (e.g. an
    Inference Endpoint named in the config → its URL) or raise an ``InferenceError``;
    told each call's outcome (None on success)."""

    async def prepare(self, model: ModelConfig, on_wait: WaitCallback | None) -> ModelConfig: ...

    def observe(self, model: ModelConfig, error: BaseException | None) -> None: ...


class InferenceClient:
    def __init__(
        self,
        *,
        user_agent: str | None = None,
        policy: RetryPolicy | None = None,
        router_base: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``user_agent``: extra product tokens (e.g. the editor, ``"vscode/1.99"``)
        appended to ``bytebuddy-ls/<version>``. ``router_base`` replaces the router URL
        (tests; also ``$BYTEBUDDY_ROUTER_URL``). Without ``policy``, the default one
        scaled by ``$BYTEBUDDY_RETRY_SCALE`` (see ``policy``)."""
        self.policy = policy or RetryPolicy.from_env()
        self.user_agent = f"bytebuddy-ls/{__version__}" + (f" {user_agent}" if user_agent else "")
        self.router = Router(router_base or os.environ.get(ROUTER_URL_ENV) or ROUTER_BASE)
        self._clock = clock
        self._host_policy = HostPolicy()
        self._breakers = CircuitBreakers(self.policy, clock)
        self._http: dict[bool, httpx.AsyncClient] = {}
        self._engines: dict[str, Engine] = {}
        self._engine_locks: dict[str, asyncio.Lock] = {}
        self._limits: dict[str, tuple[float, ServerLimits]] = {}
        self._dropped: dict[str, frozenset[str]] = {}
        self._raw_prompt: dict[str, bool] = {}
        self._local = LocalInference()
        self._preparer: ModelPreparer | None = None

    # ----- configuration -------------------------------------------------------------

    def set_host_policy(self, policy: HostPolicy) -> None:
        self._host_policy = policy

    def set_preparer(self, preparer: ModelPreparer | None) -> None:
        self._preparer = preparer

    async def _prepare(self, model: ModelConfig, on_wait: WaitCallback | None) -> ModelConfig:
        if self._preparer is None:
            return model
        return await self._preparer.prepare(model, on_wait)

    def _observe(self, model: ModelConfig, error: BaseException | None) -> None:
        if self._preparer is not None:
            try:
                self._preparer.observe(model, error)
            except Exception:
                logger.exception("model preparer failed")

    async def aclose(self) -> None:
        self._local.shutdown()
        clients, self._http = list(self._http.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, model: ModelConfig) -> httpx.AsyncClient:
        verify = model.requestOptions.verifySsl
        client = self._http.get(verify)
        if client is None:
            client = httpx.AsyncClient(
                verify=verify,
                follow_redirects=False,  # a redirect must not carry the token elsewhere
                limits=httpx.Limits(
                    max_connections=32, max_keepalive_connections=16, keepalive_expiry=60
                ),
                trust_env=False,
            )
            self._http[verify] = client
        return client

    def _timeout(self, model: ModelConfig, hold_s: float | None = None) -> httpx.Timeout:
        read = model.requestOptions.timeout + (hold_s or 0.0)
        return httpx.Timeout(
            connect=self.policy.connect_timeout_s, read=read, write=read, pool=read
        )

    def _headers(
        self, model: ModelConfig, url: str, *, stream: bool, hold_s: float | None = None
    ) -> dict[str, str]:
        token = resolve_token(model)
        refusal = self._host_policy.refusal(
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
        if hold_s:
            headers["X-Scale-Up-Timeout"] = str(max(1, math.ceil(hold_s)))
        return headers

    # ----- engines and limits --------------------------------------------------------

    def _engine_key(self, model: ModelConfig) -> str:
        return f"{model.provider} {self.router.base(model)}"

    async def _engine(self, model: ModelConfig) -> Engine:
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
        info = await self._probe(model, f"{base}/info")
        if info is not None and textgen.looks_like_tgi_info(info):
            self._limits[f"{base}/info"] = (self._clock(), textgen.parse_info(info))
            return "tgi"
        models = await self._probe(model, openai_compat.join_v1(base, "models"))
        if isinstance(models, dict) and ("data" in models or models.get("object") == "list"):
            return "openai"
        return "toolkit"

    async def _probe(self, model: ModelConfig, url: str) -> Any:
        """GET ``url``: its JSON on success, None when the route is absent. Errors that
        every route would share (auth, waking, unreachable) are raised."""
        headers = self._headers(model, url, stream=False)
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

    async def limits(self, model: ModelConfig) -> ServerLimits:
        """The server's token limits (TGI ``/info``), cached; all None when unknown."""
        if model.is_local:
            return self._local.limits(model)
        try:
            engine = await self._engine(model)
        except InferenceError:
            return ServerLimits()
        if engine != "tgi":
            return ServerLimits()
        base = self.router.base(model)
        url = f"{base[:-3] if base.endswith('/v1') else base}/info"
        cached = self._limits.get(url)
        now = self._clock()
        if cached is not None:
            stamp, value = cached
            fresh = LIMITS_TTL_S if value != ServerLimits() else LIMITS_FAILURE_TTL_S
            if now - stamp < fresh:
                return value
        try:
            data = await self._probe(model, url)
            value = textgen.parse_info(data) if data is not None else ServerLimits()
        except (InferenceError, ValueError) as exc:
            logger.debug("model '%s': no limits from %s: %s", model.name, url, exc)
            value = ServerLimits()
        self._limits[url] = (now, value)
        return value

    def supports_raw_prompt(self, model: ModelConfig) -> bool | None:
        """Whether ``generate`` has a text-generation route: True/False when known, None
        until the engine has been detected or the router has answered once."""
        if model.is_local:
            return True
        learned = self._raw_prompt.get(self._engine_key(model) + " " + model.model)
        static = self.router.static_engine(model)
        engine = static or self._engines.get(self._engine_key(model))
        if engine is None:
            return None
        if engine == "router":
            try:
                self.router.generate_target(model, engine)
            except UnsupportedOperationError:
                return False
            return learned
        return True if learned is None else learned

    def _learn_raw_prompt(self, model: ModelConfig, supported: bool) -> None:
        self._raw_prompt[self._engine_key(model) + " " + model.model] = supported

    def model_health(self, name: str) -> dict[str, Any]:
        """Breaker state for ``bytebuddy/models`` and ``doctor``: ``state`` (closed | open
        | half-open), ``consecutiveFailures``, ``lastError``, ``retryInSeconds``..."""
        return self._breakers.health(name)

    # ----- HTTP ----------------------------------------------------------------------

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
            return await self._client(model).request(
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
                return ConnectError(f"connection to {_origin(url)} timed out", **kw)
            return UpstreamTimeoutError(
                f"no answer from {_origin(url)} within {model.requestOptions.timeout:g} s", **kw
            )
        if isinstance(exc, httpx.ConnectError):
            return ConnectError(f"cannot connect to {_origin(url)}: {redact(str(exc))}", **kw)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            # Cut off mid-answer (closed or reset): a network fault, not a format problem.
            why = redact(str(exc)) or type(exc).__name__
            return UpstreamServerError(f"{_origin(url)} closed the connection: {why}", **kw)
        return ProtocolError(f"{_origin(url)}: {redact(str(exc)) or type(exc).__name__}", **kw)

    def _error(
        self,
        model: ModelConfig,
        status: int,
        body: bytes | str | None,
        headers: Any,
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
            endpoint_host=not url.startswith(self.router.router_base),
            error_type=error_type,
        )

    async def _call(self, model: ModelConfig, *, chat: bool) -> _Call:
        if model.unusable:
            raise BadRequestError(
                model.unusable,
                model=model.name,
                model_id=model.model,
                user_message=model.unusable,
            )
        engine = await self._engine(model)
        target = (
            self.router.chat_target(model, engine)
            if chat
            else self.router.generate_target(model, engine)
        )
        limits = await self.limits(model) if target.tgi_rules else ServerLimits()
        adjust = _Adjustments(dropped=self._dropped.get(model.name, frozenset()))
        return _Call(model, target, limits, adjust)

    def _body(
        self,
        call: _Call,
        payload: str | Sequence[ChatMessage],
        params: GenerationParams,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        target, adjust = call.target, call.adjust
        if target.protocol == "textgen":
            assert isinstance(payload, str)
            parameters = textgen.parameters(
                params,
                call.limits,
                payload,
                dropped=adjust.dropped,
                max_new_tokens_cap=adjust.max_new_tokens_cap,
            )
            if target.stream_flag_in_body:
                return textgen.request_body(payload, parameters, stream=stream)
            return {"inputs": payload, "parameters": parameters}
        if target.protocol == "openai-completions":
            assert isinstance(payload, str)
            return openai_compat.completion_body(
                target.model_field,
                payload,
                params,
                call.limits,
                stream=stream,
                tgi=target.tgi_rules,
                dropped=adjust.dropped,
                max_tokens_cap=adjust.max_new_tokens_cap,
            )
        assert not isinstance(payload, str)
        return openai_compat.chat_body(
            target.model_field,
            payload,
            params,
            call.limits,
            stream=stream,
            tgi=target.tgi_rules,
            dropped=adjust.dropped,
            max_tokens_cap=adjust.max_new_tokens_cap,
        )

    def _adapt(self, call: _Call, error: InferenceError) -> bool:
        """Change the request once after a fixable rejection; True to retry at once."""
        adjust = call.adjust
        unused = getattr(error, "unused_params", ())
        if unused and not adjust.dropped_once:
            adjust.dropped_once = True
            adjust.dropped = adjust.dropped | frozenset(unused)
            # Remember per model, so the next request does not pay for the lesson again.
            self._dropped[call.model.name] = adjust.dropped
            logger.info(
                "model '%s': dropping unsupported parameters %s",
                call.model.name,
                ", ".join(sorted(unused)),
            )
            return True
        if (
            isinstance(error, InputTooLongError)
            and not adjust.shrunk_once
            and error.limit_tokens is not None
            and error.input_tokens is not None
            and error.max_new_tokens is not None
            and error.limit_tokens - error.input_tokens >= 1
        ):
            adjust.shrunk_once = True
            adjust.max_new_tokens_cap = error.limit_tokens - error.input_tokens
            return True
        return False

    def _parse_whole(self, call: _Call, data: Any) -> str:
        protocol = call.target.protocol
        if protocol == "textgen":
            return textgen.parse_response(data)
        if protocol == "openai-completions":
            return openai_compat.parse_completion(data)
        return openai_compat.parse_chat(data)

    def _parse_event(self, call: _Call, data: Any) -> StreamPiece:
        if call.target.protocol == "textgen":
            return textgen.parse_stream_event(data)
        return openai_compat.parse_stream_event(data)

    async def _once(
        self, call: _Call, payload: str | Sequence[ChatMessage], params: GenerationParams
    ) -> str:
        target, model = call.target, call.model
        hold = call.adjust.scale_up_timeout_s
        headers = self._headers(model, target.url, stream=False, hold_s=hold)
        body = self._body(call, payload, params, stream=False)
        response = await self._send(
            model, "POST", target.url, headers, body, self._timeout(model, hold)
        )
        if response.status_code >= 400:
            raise self._error(
                model, response.status_code, response.content, response.headers, target.url
            )
        try:
            return self._parse_whole(call, json.loads(response.content))
        except ValueError as exc:
            raise ProtocolError(
                f"unexpected answer from {_origin(target.url)}: {exc}",
                model=model.name,
                model_id=model.model,
            ) from None

    async def _stream_once(
        self, call: _Call, payload: str | Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[str, None]:
        target, model = call.target, call.model
        hold = call.adjust.scale_up_timeout_s
        url = target.stream_url
        headers = self._headers(model, url, stream=True, hold_s=hold)
        body = self._body(call, payload, params, stream=True)
        logger.debug("model '%s': POST %s (stream)", model.name, url)
        client = self._client(model)
        try:
            async with client.stream(
                "POST", url, json=body, headers=headers, timeout=self._timeout(model, hold)
            ) as response:
                if response.status_code >= 400:
                    content = await response.aread()
                    raise self._error(model, response.status_code, content, response.headers, url)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A server that ignored "stream": one whole answer.
                    text = self._parse_whole(call, json.loads(await response.aread()))
                    if text:
                        yield text
                    return
                async for event in sse_events(response.aiter_lines()):
                    if event is DONE:
                        return
                    piece = self._parse_event(call, event)
                    if piece.error is not None:
                        status = piece.error_status or _STREAM_ERROR_STATUS.get(
                            piece.error_type or "", 500
                        )
                        raise self._error(
                            model,
                            status,
                            json.dumps({"error": piece.error}),
                            None,
                            url,
                            error_type=piece.error_type,
                        )
                    if piece.text:
                        yield piece.text
                    if piece.done:
                        return
        except httpx.HTTPError as exc:
            raise self._transport_error(model, url, exc) from None
        except ValueError as exc:
            raise ProtocolError(
                f"unexpected stream from {_origin(url)}: {exc}",
                model=model.name,
                model_id=model.model,
            ) from None

    # ----- retries -------------------------------------------------------------------

    def _wait_event(
        self,
        model: ModelConfig,
        on_wait: WaitCallback | None,
        kind: Any,
        message: str,
        seconds: float,
    ) -> None:
        logger.info("%s", message)
        if on_wait is not None:
            try:
                on_wait(WaitEvent(kind, model.name, redact(message), seconds))
            except Exception:  # a broken progress reporter must not break inference
                logger.exception("wait callback failed")

    async def _with_retries(
        self,
        model: ModelConfig,
        chat: bool,
        attempt: Callable[[_Call], Awaitable[T]],
        on_wait: WaitCallback | None,
    ) -> T:
        model = await self._prepare(model, on_wait)
        try:
            result = await self._retry_loop(model, chat, attempt, on_wait)
        except BaseException as exc:
            self._observe(model, exc)
            raise
        self._observe(model, None)
        return result

    async def _retry_loop(
        self,
        model: ModelConfig,
        chat: bool,
        attempt: Callable[[_Call], Awaitable[T]],
        on_wait: WaitCallback | None,
    ) -> T:
        state = RetryState(self.policy)
        call: _Call | None = None
        while True:
            try:
                if call is None:
                    call = await self._call(model, chat=chat)
                result = await attempt(call)
            except InferenceError as error:
                if call is not None and self._adapt(call, error):
                    continue
                await self._back_off(model, chat, state, error, call, on_wait)
                continue
            except BaseException:
                self._breakers.release_probe(model.name)
                raise
            self._succeeded(model, chat)
            return result

    async def _stream_with_retries(
        self,
        model: ModelConfig,
        chat: bool,
        payload: str | Sequence[ChatMessage],
        params: GenerationParams,
        on_wait: WaitCallback | None,
    ) -> AsyncGenerator[str, None]:
        model = await self._prepare(model, on_wait)
        try:
            async with contextlib.aclosing(
                self._stream_retry_loop(model, chat, payload, params, on_wait)
            ) as pieces:
                async for piece in pieces:
                    yield piece
        except BaseException as exc:
            self._observe(model, exc)
            raise
        self._observe(model, None)

    async def _stream_retry_loop(
        self,
        model: ModelConfig,
        chat: bool,
        payload: str | Sequence[ChatMessage],
        params: GenerationParams,
        on_wait: WaitCallback | None,
    ) -> AsyncGenerator[str, None]:
        state = RetryState(self.policy)
        call: _Call | None = None
        while True:
            started = False
            try:
                if call is None:
                    call = await self._call(model, chat=chat)
                # aclosing: a consumer that stops early closes the HTTP response now.
                async with contextlib.aclosing(self._stream_once(call, payload, params)) as pieces:
                    async for piece in pieces:
                        started = True
                        yield piece
            except InferenceError as error:
                if not started and call is not None and self._adapt(call, error):
                    continue
                # Once text has reached the caller, a retry would repeat it: fail instead.
                await self._back_off(model, chat, state, error, call, on_wait, retry=not started)
                continue
            except BaseException:
                self._breakers.release_probe(model.name)
                raise
            self._succeeded(model, chat)
            return

    async def _back_off(
        self,
        model: ModelConfig,
        chat: bool,
        state: RetryState,
        error: InferenceError,
        call: _Call | None,
        on_wait: WaitCallback | None,
        *,
        retry: bool = True,
    ) -> None:
        """Wait as the policy says before the next attempt; re-raise ``error`` when the
        policy (or ``retry=False``) allows none."""
        decision = state.next(error) if retry else None
        if decision is None:
            self._failed(model, chat, error)
            raise error
        self._wait_event(model, on_wait, decision.kind, decision.message, decision.delay_s)
        if call is not None:
            call.adjust.scale_up_timeout_s = decision.scale_up_timeout_s
        await asyncio.sleep(decision.delay_s)

    def _succeeded(self, model: ModelConfig, chat: bool) -> None:
        self._breakers.record_success(model.name)
        if not chat:
            self._learn_raw_prompt(model, True)

    def _failed(self, model: ModelConfig, chat: bool, error: InferenceError) -> None:
        self._breakers.record_failure(model.name, error)
        if (
            not chat
            and isinstance(error, ModelNotFoundError)
            and self.router.static_engine(model) == "router"
        ):
            self._learn_raw_prompt(model, False)
        logger.warning("%s", error.user_message)

    # ----- in-process models ---------------------------------------------------------

    def _refuse_unusable(self, model: ModelConfig) -> None:
        if model.unusable:
            raise BadRequestError(
                model.unusable, model=model.name, model_id=model.model, user_message=model.unusable
            )

    async def _local_once(
        self, model: ModelConfig, chat: bool, run: Callable[[], Awaitable[str]]
    ) -> str:
        self._refuse_unusable(model)
        try:
            result = await run()
        except InferenceError as error:
            self._failed(model, chat, error)
            raise
        except BaseException:
            self._breakers.release_probe(model.name)
            raise
        self._succeeded(model, chat)
        return result

    async def _local_stream(
        self, model: ModelConfig, chat: bool, open_stream: Callable[[], AsyncGenerator[str, None]]
    ) -> AsyncGenerator[str, None]:
        self._refuse_unusable(model)
        try:
            async with contextlib.aclosing(open_stream()) as pieces:
                async for piece in pieces:
                    yield piece
        except InferenceError as error:
            self._failed(model, chat, error)
            raise
        except BaseException:
            self._breakers.release_probe(model.name)
            raise
        self._succeeded(model, chat)

    # ----- public operations ---------------------------------------------------------

    async def generate(
        self,
        model: ModelConfig,
        prompt: str,
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
    ) -> str:
        """Raw-prompt completion (the prompt already holds any FIM tokens)."""
        if model.is_local:
            return await self._local_once(
                model, False, lambda: self._local.generate(model, prompt, params, on_wait=on_wait)
            )
        return await self._with_retries(
            model, False, lambda call: self._once(call, prompt, params), on_wait
        )

    def stream_generate(
        self,
        model: ModelConfig,
        prompt: str,
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
    ) -> AsyncGenerator[str, None]:
        """``generate`` as text chunks (an async generator: ``aclose()`` it if you stop
        early). Retries and fallbacks happen only before the first chunk."""
        if model.is_local:
            return self._local_stream(
                model,
                False,
                lambda: self._local.stream_generate(model, prompt, params, on_wait=on_wait),
            )
        return self._stream_with_retries(model, False, prompt, params, on_wait)

    async def chat(
        self,
        model: ModelConfig,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
    ) -> str:
        messages = tuple(messages)
        if model.is_local:
            return await self._local_once(
                model, True, lambda: self._local.chat(model, messages, params, on_wait=on_wait)
            )
        return await self._with_retries(
            model, True, lambda call: self._once(call, messages, params), on_wait
        )

    def stream_chat(
        self,
        model: ModelConfig,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
    ) -> AsyncGenerator[str, None]:
        """``chat`` as text deltas (an async generator: ``aclose()`` it if you stop early)."""
        if model.is_local:
            wire = tuple(messages)
            return self._local_stream(
                model, True, lambda: self._local.stream_chat(model, wire, params, on_wait=on_wait)
            )
        return self._stream_with_retries(model, True, tuple(messages), params, on_wait)

    # ----- fallback chains -----------------------------------------------------------

    def _admitted(self, chain: Sequence[ModelConfig]) -> list[ModelConfig]:
        """The chain in order, without models whose breaker is open; when every breaker
        is open, the first model anyway (an answer beats a certain failure)."""
        if not chain:
            raise ModelNotFoundError(
                "no model is configured for this role",
                user_message=(
                    "No model is configured for this role: add one to the config's models list"
                ),
            )
        admitted = [m for m in chain if self._breakers.state(m.name) != "open"]
        return admitted or [chain[0]]

    async def _run_chain(
        self, chain: Sequence[ModelConfig], call: Callable[[ModelConfig], Awaitable[str]]
    ) -> tuple[str, ModelConfig]:
        first_error: InferenceError | None = None
        candidates = self._admitted(chain)
        for index, model in enumerate(candidates):
            if not self._breakers.allow(model.name) and index < len(candidates) - 1:
                continue  # a half-open model already being probed by another request
            try:
                return await call(model), model
            except InferenceError as error:
                first_error = first_error or error
                logger.info("model '%s' failed; trying the next model of the chain", model.name)
        assert first_error is not None
        raise first_error

    async def generate_chain(
        self,
        chain: Sequence[ModelConfig],
        prompt: str,
        params_for: Callable[[ModelConfig], GenerationParams],
        *,
        on_wait: WaitCallback | None = None,
    ) -> tuple[str, ModelConfig]:
        """Try the chain in order (skipping open breakers); return the text and the model
        that served it. All failing: the first model's error."""
        return await self._run_chain(
            chain, lambda m: self.generate(m, prompt, params_for(m), on_wait=on_wait)
        )

    async def chat_chain(
        self,
        chain: Sequence[ModelConfig],
        messages: Sequence[ChatMessage],
        params_for: Callable[[ModelConfig], GenerationParams],
        *,
        on_wait: WaitCallback | None = None,
    ) -> tuple[str, ModelConfig]:
        return await self._run_chain(
            chain, lambda m: self.chat(m, messages, params_for(m), on_wait=on_wait)
        )

    def stream_chat_chain(
        self,
        chain: Sequence[ModelConfig],
        messages: Sequence[ChatMessage],
        params_for: Callable[[ModelConfig], GenerationParams],
        *,
        on_wait: WaitCallback | None = None,
    ) -> ChainStream:
        """Stream from the first model that starts answering; falls back only before the
        first chunk. ``.model`` on the returned stream names the serving model."""
        return ChainStream(
            lambda holder: self._stream_chain(
                holder,
                chain,
                lambda m: self.stream_chat(m, messages, params_for(m), on_wait=on_wait),
            )
        )

    def stream_generate_chain(
        self,
        chain: Sequence[ModelConfig],
        prompt: str,
        params_for: Callable[[ModelConfig], GenerationParams],
        *,
        on_wait: WaitCallback | None = None,
    ) -> ChainStream:
        return ChainStream(
            lambda holder: self._stream_chain(
                holder,
                chain,
                lambda m: self.stream_generate(m, prompt, params_for(m), on_wait=on_wait),
            )
        )

    async def _stream_chain(
        self,
        holder: ChainStream,
        chain: Sequence[ModelConfig],
        open_stream: Callable[[ModelConfig], AsyncIterator[str]],
    ) -> AsyncGenerator[str, None]:
        first_error: InferenceError | None = None
        admitted = self._admitted(chain)
        for index, model in enumerate(admitted):
            if not self._breakers.allow(model.name) and index < len(admitted) - 1:
                continue
            stream = open_stream(model)
            try:
                try:
                    first = await stream.__anext__()
                except StopAsyncIteration:
                    holder.model = model
                    return
                except InferenceError as error:
                    first_error = first_error or error
                    logger.info("model '%s' failed; trying the next model of the chain", model.name)
                    continue
                holder.model = model
                yield first
                async for piece in stream:
                    yield piece
                return
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        assert first_error is not None
        raise first_error


def _origin(url: str) -> str:
    """Scheme, host and port only: paths can hold model ids but never need to be shown."""
    parts = httpx.URL(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}"
