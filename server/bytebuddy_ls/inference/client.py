"""The inference client: what features call. It picks the backend for a model (HTTP or
in-process llama.cpp), runs fallback chains (``chain``), and tells observers about every
upstream attempt (``records``).

Operations: ``generate`` (raw prompt, FIM tokens already in it) and ``chat``
(messages), each whole or streamed (``stream_*``), for one model or a chain
(``*_chain``); ``run_chain`` runs any per-model coroutine through the same chain rules
(autocomplete builds a prompt per model). Every public call takes ``role=`` and
``operation=`` keywords, written into the call records.

Whole answers come back as ``Answer`` (a ``str`` with ``finish_reason``/``truncated``);
for chat-like roles an empty answer raises ``EmptyAnswerError`` (the chain then tries
its next model) instead of passing for success. Autocomplete may answer nothing.

Close a stream you stop reading early with ``aclose()`` (``contextlib.aclosing``), or it
is closed only when garbage-collected; closing it aborts the upstream request.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .. import __version__
from ..config.schema import ROUTER_BASE, ModelConfig
from ..log import logger
from .auth import HostPolicy
from .backend import Backend, Kind, Request
from .chain import ChainRunner, ChainStream
from .errors import BudgetExceededError, EmptyAnswerError, InferenceError
from .http_backend import HttpBackend
from .local_backend import LocalBackend
from .policy import CircuitBreakers, RetryPolicy
from .records import CallObserver, UpstreamCall
from .routing import Router
from .types import Answer, ChatMessage, GenerationParams, ServerLimits, WaitCallback

T = TypeVar("T")

# Environment override of the router's base URL, for end-to-end tests against a loopback
# server (the router's host is otherwise fixed).
ROUTER_URL_ENV = "BYTEBUDDY_ROUTER_URL"
# Roles whose empty answer is a failure to report (autocomplete may rightly say nothing).
_EMPTY_IS_SUCCESS = frozenset({"autocomplete"})

ParamsFor = Callable[[ModelConfig], GenerationParams]


class ModelPreparer(Protocol):
    """Runs before every call of a model: may replace it (a model naming its Inference
    Endpoint → the endpoint's URL) or raise an ``InferenceError`` (a paused endpoint);
    told each call's outcome (None on success). ``resolved`` is the same replacement
    from what is already known, without asking anyone (for ``limits`` and friends)."""

    async def prepare(
        self, model: ModelConfig, on_wait: WaitCallback | None, *, automatic: bool
    ) -> ModelConfig: ...

    def resolved(self, model: ModelConfig) -> ModelConfig: ...

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
        self.http = HttpBackend(
            policy=self.policy, user_agent=self.user_agent, router=self.router, clock=clock
        )
        self.local = LocalBackend()
        self._breakers = CircuitBreakers(self.policy, clock)
        self._chains = ChainRunner(self._breakers)
        self._observers: list[CallObserver] = []
        self._preparer: ModelPreparer | None = None
        # Why a model may not be asked for a role right now (a used-up budget), or None.
        self.refusal: Callable[[ModelConfig, str], str | None] = lambda _model, _role: None
        # Awaited before ``refusal`` is asked: returns once the budgets are known.
        self.budgets_known: Callable[[], Awaitable[None]] | None = None
        self.in_flight = 0  # operations running upstream (metrics)

    # ----- configuration -------------------------------------------------------------

    def set_host_policy(self, policy: HostPolicy) -> None:
        self.http.host_policy = policy

    def set_preparer(self, preparer: ModelPreparer | None) -> None:
        self._preparer = preparer

    def _resolved(self, model: ModelConfig) -> ModelConfig:
        return model if self._preparer is None else self._preparer.resolved(model)

    def _observe(self, model: ModelConfig, error: BaseException | None) -> None:
        if self._preparer is not None:
            try:
                self._preparer.observe(model, error)
            except Exception:  # bookkeeping must never break inference
                logger.exception("model preparer failed")

    def add_observer(self, observer: CallObserver) -> None:
        """Call ``observer`` with one ``UpstreamCall`` per upstream attempt."""
        self._observers.append(observer)

    def _emit(self, record: UpstreamCall) -> None:
        for observer in self._observers:
            try:
                observer(record)
            except Exception:  # an observer must never break inference
                logger.exception("call observer failed")

    async def aclose(self) -> None:
        await self.local.aclose()
        await self.http.aclose()

    def backend(self, model: ModelConfig) -> Backend:
        return self.local if model.is_local else self.http

    # ----- what features ask about a model -------------------------------------------

    async def limits(self, model: ModelConfig) -> ServerLimits:
        """The server's token limits (TGI ``/info``, the local context), cached; all
        None when unknown."""
        model = self._resolved(model)
        return await self.backend(model).limits(model)

    def supports_raw_prompt(self, model: ModelConfig) -> bool | None:
        """Whether ``generate`` has a text-generation route: True/False when known, None
        until the engine has been detected or the router's mapping is known."""
        model = self._resolved(model)
        return self.backend(model).supports_raw_prompt(model)

    def model_health(self, name: str) -> dict[str, Any]:
        """Breaker state for ``bytebuddy/models`` and ``doctor``: ``state`` (closed | open
        | half-open), ``consecutiveFailures``, ``lastError``, ``retryInSeconds``..."""
        return self._breakers.health(name)

    # ----- one model -----------------------------------------------------------------

    async def _texts(
        self, model: ModelConfig, request: Request, ending: _Ending
    ) -> AsyncGenerator[str, None]:
        """The answer's text pieces; an empty answer raises for chat-like roles.
        ``ending.finish_reason`` learns how the answer ended."""
        finish: str | None = None
        produced = False
        if self.budgets_known is not None:
            await self.budgets_known()
        refusal = self.refusal(model, request.role)
        if refusal is not None:
            raise BudgetExceededError(
                refusal, model=model.name, model_id=model.model, user_message=refusal
            )
        if self._preparer is not None:
            model = await self._preparer.prepare(
                model, request.on_wait, automatic=not request.invoked
            )
        self.in_flight += 1
        try:
            # aclosing: a consumer that stops early stops the upstream request at once.
            async with contextlib.aclosing(
                self.backend(model).run(model, request, self._emit)
            ) as run:
                async for piece in run:
                    if piece.finish_reason is not None:
                        finish = ending.finish_reason = piece.finish_reason
                    if piece.text:
                        produced = True
                        yield piece.text
        except BaseException as exc:
            self._observe(model, exc)
            raise
        finally:
            self.in_flight -= 1
        self._observe(model, None)
        if not produced and request.role not in _EMPTY_IS_SUCCESS:
            why = " (it stopped at a stop sequence or end token)" if finish == "stop" else ""
            why = " (it hit the token limit)" if finish == "length" else why
            raise EmptyAnswerError(
                f"the model answered nothing{why}", model=model.name, model_id=model.model
            )

    async def _whole(self, model: ModelConfig, request: Request) -> Answer:
        ending = _Finish()
        text = "".join([piece async for piece in self._texts(model, request, ending)])
        return Answer(text, ending.finish_reason)

    def _single_stream(self, model: ModelConfig, request: Request) -> ChainStream:
        async def source(holder: ChainStream) -> AsyncIterator[str]:
            holder.model = model
            async with contextlib.aclosing(self._texts(model, request, holder)) as texts:
                async for text in texts:
                    yield text

        return ChainStream(source)

    def _request(
        self,
        kind: Kind,
        payload: str | Sequence[ChatMessage],
        params: GenerationParams,
        *,
        stream: bool,
        role: str,
        operation: str | None,
        automatic: bool,
        on_wait: WaitCallback | None,
    ) -> Request:
        return Request(
            kind,
            payload if isinstance(payload, str) else tuple(payload),
            params,
            stream,
            role,
            operation or role,
            invoked=not automatic,
            on_wait=on_wait,
        )

    # One model, no chain: no fallback and no circuit-breaker bookkeeping (callers that
    # run their own per-model work through ``run_chain`` get both there).
    # The public calls below and the chain calls spell out the same keywords one by one
    # on purpose: they are the interface features read and mypy checks; what they share
    # is in ``_request``, ``_whole``, ``_single_stream`` and the ``*_chain`` helpers.

    async def embed(
        self,
        model: ModelConfig,
        texts: list[str],
        *,
        role: str = "embed",
        operation: str = "embed",
    ) -> list[list[float]]:
        """One vector per text from a model with the ``embed`` role (wire formats in
        ``embeddings``); one call record per request. No retries and no chain: the
        workspace index embeds in the background and tries again later."""
        from .embeddings import embed_target, parse_response, request_body
        from .errors import ProtocolError
        from .metering import Meter

        if not texts:
            return []
        target = embed_target(model, self.router)
        meter = Meter(
            self._emit,
            model=model.name,
            model_id=target.model_field or model.model,
            provider=target.provider,
            role=role,
            operation=operation,
            prompt_text="".join(texts),
            stream=False,
        )
        try:
            data = await self.http.post_json(model, target.url, request_body(target, texts))
            vectors = parse_response(target, data, len(texts))
        except ProtocolError as exc:
            meter.finish(exc)
            raise ProtocolError(exc.detail, model=model.name, model_id=model.model) from None
        except BaseException as exc:
            meter.finish(exc)
            raise
        meter.finish()
        return vectors

    async def generate(
        self,
        model: ModelConfig,
        prompt: str,
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "autocomplete",
        operation: str | None = None,
        automatic: bool = False,
    ) -> Answer:
        """Raw-prompt completion (the prompt already holds any FIM tokens).
        ``automatic``: typed-along ghost text, which never waits for a waking endpoint."""
        request = self._request(
            "generate",
            prompt,
            params,
            stream=False,
            role=role,
            operation=operation,
            automatic=automatic,
            on_wait=on_wait,
        )
        return await self._whole(model, request)

    def stream_generate(
        self,
        model: ModelConfig,
        prompt: str,
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "autocomplete",
        operation: str | None = None,
    ) -> ChainStream:
        """``generate`` as text chunks (``aclose()`` it if you stop early). Retries
        happen only before the first chunk."""
        request = self._request(
            "generate",
            prompt,
            params,
            stream=True,
            role=role,
            operation=operation,
            automatic=False,
            on_wait=on_wait,
        )
        return self._single_stream(model, request)

    async def chat(
        self,
        model: ModelConfig,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "chat",
        operation: str | None = None,
        automatic: bool = False,
    ) -> Answer:
        request = self._request(
            "chat",
            messages,
            params,
            stream=False,
            role=role,
            operation=operation,
            automatic=automatic,
            on_wait=on_wait,
        )
        return await self._whole(model, request)

    def stream_chat(
        self,
        model: ModelConfig,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "chat",
        operation: str | None = None,
    ) -> ChainStream:
        """``chat`` as text deltas (``aclose()`` it if you stop early)."""
        request = self._request(
            "chat",
            messages,
            params,
            stream=True,
            role=role,
            operation=operation,
            automatic=False,
            on_wait=on_wait,
        )
        return self._single_stream(model, request)

    # ----- fallback chains -----------------------------------------------------------

    async def run_chain(
        self,
        chain: Sequence[ModelConfig],
        attempt: Callable[[ModelConfig], Awaitable[T]],
        *,
        stop_on: tuple[type[InferenceError], ...] = (),
    ) -> tuple[T, ModelConfig]:
        """``attempt(model)`` for the chain's models in order, by the chain rules; the
        first result and the model that gave it. (``ChainRunner.first``'s signature,
        for a coroutine per model rather than an iterator.)"""

        async def one(model: ModelConfig) -> AsyncIterator[T]:
            yield await attempt(model)

        return await self._chains.first(chain, one, stop_on=stop_on)

    async def _whole_chain(
        self,
        chain: Sequence[ModelConfig],
        kind: Kind,
        payload: str | Sequence[ChatMessage],
        params_for: ParamsFor,
        *,
        role: str,
        operation: str | None,
        automatic: bool,
        on_wait: WaitCallback | None,
    ) -> tuple[Answer, ModelConfig]:
        async def open_answer(model: ModelConfig) -> AsyncIterator[Answer]:
            request = self._request(
                kind,
                payload,
                params_for(model),
                stream=False,
                role=role,
                operation=operation,
                automatic=automatic,
                on_wait=on_wait,
            )
            yield await self._whole(model, request)

        return await self._chains.first(chain, open_answer)

    async def generate_chain(
        self,
        chain: Sequence[ModelConfig],
        prompt: str,
        params_for: ParamsFor,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "autocomplete",
        operation: str | None = None,
        automatic: bool = False,
    ) -> tuple[Answer, ModelConfig]:
        """Try the chain in order (skipping open breakers); return the text and the model
        that served it. All failing: the first model's error."""
        return await self._whole_chain(
            chain,
            "generate",
            prompt,
            params_for,
            role=role,
            operation=operation,
            automatic=automatic,
            on_wait=on_wait,
        )

    async def chat_chain(
        self,
        chain: Sequence[ModelConfig],
        messages: Sequence[ChatMessage],
        params_for: ParamsFor,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "chat",
        operation: str | None = None,
        automatic: bool = False,
    ) -> tuple[Answer, ModelConfig]:
        return await self._whole_chain(
            chain,
            "chat",
            messages,
            params_for,
            role=role,
            operation=operation,
            automatic=automatic,
            on_wait=on_wait,
        )

    def _stream_chain(
        self,
        chain: Sequence[ModelConfig],
        kind: Kind,
        payload: str | Sequence[ChatMessage],
        params_for: ParamsFor,
        *,
        role: str,
        operation: str | None,
        on_wait: WaitCallback | None,
    ) -> ChainStream:
        def source(holder: ChainStream) -> AsyncIterator[str]:
            def open_stream(model: ModelConfig) -> AsyncIterator[str]:
                request = self._request(
                    kind,
                    payload,
                    params_for(model),
                    stream=True,
                    role=role,
                    operation=operation,
                    automatic=False,
                    on_wait=on_wait,
                )
                return self._texts(model, request, holder)

            def served(model: ModelConfig) -> None:
                holder.model = model

            return self._chains.items(chain, open_stream, on_model=served)

        return ChainStream(source)

    def stream_chat_chain(
        self,
        chain: Sequence[ModelConfig],
        messages: Sequence[ChatMessage],
        params_for: ParamsFor,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "chat",
        operation: str | None = None,
    ) -> ChainStream:
        """Stream from the first model that starts answering; falls back only before the
        first chunk. ``.model`` on the returned stream names the serving model."""
        return self._stream_chain(
            chain, "chat", messages, params_for, role=role, operation=operation, on_wait=on_wait
        )

    def stream_generate_chain(
        self,
        chain: Sequence[ModelConfig],
        prompt: str,
        params_for: ParamsFor,
        *,
        on_wait: WaitCallback | None = None,
        role: str = "chat",
        operation: str | None = None,
    ) -> ChainStream:
        return self._stream_chain(
            chain, "generate", prompt, params_for, role=role, operation=operation, on_wait=on_wait
        )


class _Ending(Protocol):
    finish_reason: str | None


@dataclass
class _Finish:
    finish_reason: str | None = None
