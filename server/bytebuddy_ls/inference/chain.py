"""The one fallback-chain runner: chat, generate, streams and autocomplete all use it.

Rules (the circuit breakers' bookkeeping lives only here):
- models whose breaker is open are skipped; when every breaker is open, the first model
  is tried anyway (an answer beats a certain failure);
- a half-open model admits one probe at a time; another request skips it unless it is
  the last candidate;
- a model that fails with an ``InferenceError`` before producing anything hands over to
  the next one; once something reached the caller, its failure is final (a retry would
  repeat the text). ``stop_on`` errors end the chain at once (e.g. a loading model an
  automatic completion must not wait for);
- success, failure and "ended without a verdict" (cancelled, closed early) are recorded
  per model; all failing raises the first model's error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from ..config.schema import ModelConfig
from ..log import logger
from .errors import InferenceError, ModelNotFoundError
from .policy import CircuitBreakers

T = TypeVar("T")


class ChainStream:
    """A streamed answer from a fallback chain. ``.model`` is the model that serves it,
    known once the first chunk (or the end of an empty answer) has arrived;
    ``.finish_reason`` once the stream has ended (``truncated``: cut by max tokens).

    Use as ``async with client.stream_chat_chain(...) as stream: async for delta in stream``.
    """

    def __init__(self, source: Callable[[ChainStream], AsyncIterator[str]]) -> None:
        self.model: ModelConfig | None = None
        self.finish_reason: str | None = None
        self._iterator = source(self)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

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


class ChainRunner:
    def __init__(self, breakers: CircuitBreakers) -> None:
        self.breakers = breakers
        self._told: dict[str, str] = {}  # model → the failure last logged for it

    def _tell(self, model: ModelConfig, error: InferenceError) -> None:
        """Log a model's failure once: the same failure again (every keystroke, for
        autocomplete) goes to the debug log until the model succeeds."""
        if self._told.get(model.name) == error.user_message:
            logger.debug("%s", error.user_message)
            return
        self._told[model.name] = error.user_message
        logger.warning("%s", error.user_message)

    def admitted(self, chain: Sequence[ModelConfig]) -> list[ModelConfig]:
        """The chain in order, without models whose breaker is open (all open: the first)."""
        if not chain:
            raise ModelNotFoundError(
                "no model is configured for this role",
                user_message=(
                    "No model is configured for this role: add one to the config's models list"
                ),
            )
        admitted = [m for m in chain if self.breakers.state(m.name) != "open"]
        return admitted or [chain[0]]

    async def items(
        self,
        chain: Sequence[ModelConfig],
        open_items: Callable[[ModelConfig], AsyncIterator[T]],
        *,
        on_model: Callable[[ModelConfig], None] | None = None,
        stop_on: tuple[type[InferenceError], ...] = (),
    ) -> AsyncGenerator[T, None]:
        """The items of the first model that produces any; ``on_model`` is told which
        model serves (before its first item, or at the end of an empty answer)."""
        first_error: InferenceError | None = None
        candidates = self.admitted(chain)
        for index, model in enumerate(candidates):
            if not self.breakers.allow(model.name) and index < len(candidates) - 1:
                continue  # a half-open model already being probed by another request
            source = open_items(model)
            produced = False
            try:
                async for item in source:
                    if not produced:
                        produced = True
                        if on_model is not None:
                            on_model(model)
                    yield item
            except InferenceError as error:
                final = produced or isinstance(error, stop_on)
                if self._failed(model, error, final=final, last=index == len(candidates) - 1):
                    raise
                first_error = first_error or error
                continue
            except BaseException:
                self.breakers.release_probe(model.name)
                raise
            finally:
                await _close(source)
            self.breakers.record_success(model.name)
            self._told.pop(model.name, None)
            if not produced and on_model is not None:
                on_model(model)
            return
        assert first_error is not None
        raise first_error

    def _failed(
        self, model: ModelConfig, error: InferenceError, *, final: bool, last: bool
    ) -> bool:
        """Record a model's failure; whether it ends the request (``final``: items already
        went out, or the caller stops on this kind) rather than falling to the next model."""
        self.breakers.record_failure(model.name, error)
        self._tell(model, error)
        if final:
            return True
        if not last:
            logger.info("model '%s' failed; trying the next model of the chain", model.name)
        return False

    async def first(
        self,
        chain: Sequence[ModelConfig],
        open_items: Callable[[ModelConfig], AsyncIterator[T]],
        *,
        stop_on: tuple[type[InferenceError], ...] = (),
    ) -> tuple[T, ModelConfig]:
        """The single item of the first model that produces one, and that model."""
        served: list[ModelConfig] = []
        results = [
            item
            async for item in self.items(chain, open_items, on_model=served.append, stop_on=stop_on)
        ]
        if not results:
            raise AssertionError("a model succeeded without producing its result")
        return results[-1], served[0]


async def _close(source: AsyncIterator[Any]) -> None:
    """Close a model's item stream (an async generator) whichever way its use ended."""
    aclose = getattr(source, "aclose", None)
    if aclose is not None:
        await aclose()
