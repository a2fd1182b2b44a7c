"""The autocomplete role: document → context → prompt → model → clean suggestion.

Shared by ``textDocument/inlineCompletion``, the ``textDocument/completion`` fallback
and ``bytebuddy-ls complete``. The economy rules live here, in one place:

- per document, a newer *automatic* request supersedes older ones: they are answered
  at once with nothing, and their upstream call is cancelled unless another request
  still waits for it;
- automatic requests wait a short debounce first; invoked ones do not;
- typing along a suggestion that is on screen is served from it, with no upstream call,
  and so is a repeated request for the state it was shown in (VS Code re-asks at once);
- an LRU+TTL cache of model answers keyed on model, prompt and parameters, and
  identical in-flight requests share one upstream call;
- while a model is loading, automatic requests answer nothing at once (the status
  says "loading") instead of queueing behind the cold start.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from cachetools import TTLCache

from ..config import ModelConfig, Role
from ..documents import Document
from ..inference import (
    ChatMessage,
    GenerationParams,
    InferenceClient,
    ModelLoadingError,
    WaitCallback,
    WaitEvent,
)
from ..prompting.context import ContextWindow, cut_context, prompt_token_budget
from ..prompting.fim import (
    AutocompletePrompt,
    build_autocomplete_prompt,
    extract_chat_completion,
    special_tokens_for,
)
from ..prompting.lines import detect_indent_unit, eol_near
from ..prompting.postprocess import postprocess, wants_multiline
from ..prompting.tokens import tokens_to_bytes

if TYPE_CHECKING:
    from ..workspace.crossfile import CrossFileResult
    from ..workspace.engine import ContextEngine

DEFAULT_MAX_TOKENS = 128
# A single-line suggestion needs few tokens; asking for fewer answers sooner.
SINGLE_LINE_MAX_TOKENS = 48
# Suffix budget of in-process models (estimated tokens): the rest of the line and the
# next two or three, about what a CPU evaluates in a few hundred milliseconds.
LOCAL_SUFFIX_TOKENS = 48
CACHE_SIZE = 512
CACHE_TTL_S = 600.0
SHOWN_HISTORY = 64


@dataclass
class Suggestion:
    """A suggestion placed in a document: insert ``text`` at ``offset``, replacing the
    ``replace_chars`` code points after it (e.g. an auto-closed bracket)."""

    id: str
    text: str
    offset: int
    replace_chars: int
    model: str
    # What surrounded the cursor when it was made, to recognise typing along it.
    line_prefix: str = ""
    line_suffix: str = ""
    line_start: int = 0
    version: int | None = None  # of the document it was shown in


@dataclass
class _Flight:
    task: asyncio.Task[str]
    waiters: int = 0


@dataclass
class _DocState:
    generation: int = 0
    superseded: asyncio.Event = field(default_factory=asyncio.Event)
    shown: Suggestion | None = None


@dataclass(frozen=True)
class AutocompletePlan:
    """One autocomplete request as it would be sent (see ``Autocomplete.plan``)."""

    model: ModelConfig
    prompt: AutocompletePrompt
    params: GenerationParams
    window: ContextWindow
    multiline: bool
    budget_tokens: int
    context: CrossFileResult | None


class NoAutocompleteModel(Exception):
    """No usable model has the autocomplete role."""


class AutocompletePaused(Exception):
    """Every autocomplete model is stopped by a used-up budget; the message says which
    budget and how to raise it."""


def language_of(document: Document) -> str | None:
    return document.language_id or None


def filename_of(uri: str, root: str | None = None) -> str | None:
    parts = urlsplit(uri)
    path = unquote(parts.path) if parts.scheme in ("file", "") else parts.path
    if not path:
        return None
    if root and path.startswith(root.rstrip("/") + "/"):
        return path[len(root.rstrip("/")) + 1 :]
    return PurePosixPath(path).name


def _indent_unit(prefix: str) -> str | None:
    """The indentation unit of the code just above the cursor (its last 50 lines)."""
    start = len(prefix)
    for _ in range(50):
        start = prefix.rfind("\n", 0, start)
        if start < 0:
            break
    return detect_indent_unit(prefix[start + 1 :], default=None)


class Autocomplete:
    def __init__(
        self,
        inference: InferenceClient,
        chain_for: Callable[[Role], list[ModelConfig]],
        *,
        debounce_ms: Callable[[], int] = lambda: 75,
        workspace_root: Callable[[], str | None] = lambda: None,
        on_cache_hit: Callable[[str], None] = lambda _model: None,
        stopped_by: Callable[[str], str | None] = lambda _model: None,
        context: ContextEngine | None = None,
    ) -> None:
        self.inference = inference
        self.on_cache_hit = on_cache_hit  # told the model's name (usage accounting)
        self.stopped_by = stopped_by  # why a model may not be asked now (a budget), or None
        self.context = context
        self.chain_for = chain_for
        self.debounce_ms = debounce_ms
        self.workspace_root = workspace_root
        self._cache: TTLCache[Hashable, str] = TTLCache(CACHE_SIZE, CACHE_TTL_S)
        self._flights: dict[Hashable, _Flight] = {}
        self._docs: dict[str, _DocState] = {}
        self._loading_until: dict[str, float] = {}
        self._shown_by_id: dict[str, Suggestion] = {}
        self.stats: dict[str, dict[str, int]] = {}

    # ----- public ----------------------------------------------------------------------

    async def request(
        self,
        document: Document,
        offset: int,
        *,
        automatic: bool,
        on_wait: WaitCallback | None = None,
        on_upstream: Callable[[str], None] | None = None,
    ) -> Suggestion | None:
        """One suggestion for the cursor at ``offset``, or None.

        Raises ``NoAutocompleteModel``, ``AutocompletePaused`` or ``InferenceError``; an
        automatic request that a newer one superseded returns None."""
        state = self._docs.setdefault(document.uri, _DocState())
        if automatic:
            state.superseded.set()
            state.superseded = asyncio.Event()
        superseded = state.superseded if automatic else asyncio.Event()

        ahead = self.typed_ahead(document, offset)
        if ahead is not None:
            # Served without an upstream call, like an answer from the cache.
            self.on_cache_hit(ahead.model)
            return self._remember(document.uri, ahead)
        chain = self.chain_for("autocomplete")
        if not chain:
            raise NoAutocompleteModel()
        stops = [self.stopped_by(model.name) for model in chain]
        if all(stops):
            raise AutocompletePaused(stops[0])
        chain = [model for model, stop in zip(chain, stops, strict=True) if not stop]
        if automatic and self.debounce_ms() > 0:
            try:
                await asyncio.wait_for(superseded.wait(), self.debounce_ms() / 1000)
                return None
            except asyncio.TimeoutError:
                pass
        if automatic and self._still_loading(chain[0]):
            raise self._loading_error(chain[0])

        suggestion = await self._suggest(
            document, offset, chain, automatic, superseded, on_wait, on_upstream
        )
        return self._remember(document.uri, suggestion) if suggestion else None

    def typed_ahead(self, document: Document, offset: int) -> Suggestion | None:
        """The rest of the suggestion on screen, when the user typed its first characters
        (or nothing since: a repeated request for the same state gets the same answer)."""
        state = self._docs.get(document.uri)
        shown = state.shown if state else None
        if shown is None or offset < shown.offset:
            return None
        typed = offset - shown.offset
        if not typed and (shown.version is None or shown.version != document.version):
            return None  # edited elsewhere since: not the same state
        text = document.text
        first_line = shown.text.split("\n", 1)[0].split("\r", 1)[0]
        if typed and typed >= len(first_line):
            return None
        line_end = document.line_end(offset)
        if (
            text[shown.line_start : shown.offset] != shown.line_prefix
            or text[shown.offset : offset] != shown.text[:typed]
            or text[offset:line_end] != shown.line_suffix
        ):
            return None
        return Suggestion(
            id=shown.id,
            text=shown.text[typed:],
            offset=offset,
            replace_chars=shown.replace_chars,
            model=shown.model,
            line_prefix=text[shown.line_start : offset],
            line_suffix=shown.line_suffix,
            line_start=shown.line_start,
            version=document.version,
        )

    def accept(self, suggestion_id: str) -> Suggestion | None:
        suggestion = self._shown_by_id.pop(suggestion_id, None)
        if suggestion is not None:
            self._count(suggestion.model, "accepted")
        return suggestion

    def forget(self, uri: str) -> None:
        self._docs.pop(uri, None)

    @property
    def in_flight(self) -> int:
        """Upstream calls running now."""
        return len(self._flights)

    def clear_cache(self) -> None:
        self._cache.clear()
        self._loading_until.clear()

    def model_ready(self, name: str) -> None:
        """The model is known to answer now (e.g. its endpoint runs): automatic requests
        stop waiting out its loading estimate."""
        self._loading_until.pop(name, None)

    def model_stats(self, name: str) -> dict[str, int]:
        return dict(self.stats.get(name, {"shown": 0, "accepted": 0}))

    # ----- pipeline --------------------------------------------------------------------

    def _remember(self, uri: str, suggestion: Suggestion) -> Suggestion:
        state = self._docs.setdefault(uri, _DocState())
        is_new = state.shown is None or state.shown.id != suggestion.id
        state.shown = suggestion
        if is_new:
            self._count(suggestion.model, "shown")
            self._shown_by_id[suggestion.id] = suggestion
            while len(self._shown_by_id) > SHOWN_HISTORY:
                self._shown_by_id.pop(next(iter(self._shown_by_id)))
        return suggestion

    def _count(self, model: str, what: str) -> None:
        counts = self.stats.setdefault(model, {"shown": 0, "accepted": 0})
        counts[what] += 1

    def _still_loading(self, model: ModelConfig) -> bool:
        until = self._loading_until.get(model.name)
        return until is not None and time.monotonic() < until

    def _loading_error(self, model: ModelConfig) -> ModelLoadingError:
        remaining = max(0.0, self._loading_until.get(model.name, 0.0) - time.monotonic())
        return ModelLoadingError(
            "is loading",
            model=model.name,
            model_id=model.model,
            user_message=f"Model '{model.name}' is loading (about {remaining:.0f} s left)",
        )

    async def _suggest(
        self,
        document: Document,
        offset: int,
        chain: list[ModelConfig],
        automatic: bool,
        superseded: asyncio.Event,
        on_wait: WaitCallback | None,
        on_upstream: Callable[[str], None] | None,
    ) -> Suggestion | None:
        # The client's fallback chain; the prompt depends on the model family, so each
        # model gets its own. A loading model ends it: automatic requests do not queue.
        suggestion, _model = await self.inference.run_chain(
            chain,
            lambda model: self._suggest_with(
                model, document, offset, automatic, superseded, on_wait, on_upstream
            ),
            stop_on=(ModelLoadingError,),
        )
        return suggestion

    async def plan(self, model: ModelConfig, document: Document, offset: int) -> AutocompletePlan:
        """Everything the request for ``offset`` would send to ``model``: the prompt, its
        parameters and the cross-file context in it. The context inspector shows this
        very object, so what it shows is what is sent."""
        options = model.defaultCompletionOptions
        limits = await self.inference.limits(model)
        configured_max = options.maxTokens or DEFAULT_MAX_TOKENS
        budget = prompt_token_budget(
            max_tokens=configured_max,
            context_length=options.contextLength,
            max_input_tokens=limits.max_input_tokens,
            max_total_tokens=limits.max_total_tokens,
        )
        context = None
        context_tokens = 0
        if self.context is not None:
            room = self.context.autocomplete_budget(budget)
            reach = tokens_to_bytes(budget)
            visible = (max(0, offset - reach), offset + reach)
            context = self.context.autocomplete(document, offset, room, visible)
            context_tokens = context.selection.tokens
        # llama.cpp keeps the KV cache of the previous prompt and evaluates only what
        # follows the first changed token: for in-process models the prompt's start
        # stays put while typing and the FIM suffix (evaluated again on every
        # keystroke, as it follows the cursor) is kept to a few lines.
        local = model.is_local
        window = cut_context(
            document.text,
            offset,
            max_prompt_tokens=budget - context_tokens,
            max_suffix_tokens=LOCAL_SUFFIX_TOKENS if local else None,
            stable_start=local,
        )
        language = language_of(document)
        multiline = wants_multiline(window.prefix, window.suffix, language)
        # Chat-style completion only when the user asked for it: a model without a
        # raw-prompt route is reported, never silently completed through chat.
        chat_only = model.autocomplete.via == "chat"
        root = self.workspace_root()
        snippets = context.snippets if context is not None else []
        prompt = build_autocomplete_prompt(
            model.model,
            window.prefix,
            window.suffix,
            filename=filename_of(document.uri, root),
            language=language,
            template=model.promptTemplates.autocomplete,
            chat_only=chat_only,
            repo_name=PurePosixPath(root).name if root and snippets else None,
            context=[(snippet.path, snippet.text) for snippet in snippets],
        )
        max_tokens = configured_max if multiline else min(configured_max, SINGLE_LINE_MAX_TOKENS)
        stop = tuple(dict.fromkeys(prompt.stop + tuple(options.stop or ())))
        if not multiline and prompt.kind != "chat":
            stop = ("\n", *stop)
        params = GenerationParams.for_model(model, max_tokens=max_tokens, stop=stop)
        return AutocompletePlan(model, prompt, params, window, multiline, budget, context)

    async def _suggest_with(
        self,
        model: ModelConfig,
        document: Document,
        offset: int,
        automatic: bool,
        superseded: asyncio.Event,
        on_wait: WaitCallback | None,
        on_upstream: Callable[[str], None] | None,
    ) -> Suggestion | None:
        version = document.version  # the state this suggestion is for
        plan = await self.plan(model, document, offset)
        prompt, params, window, multiline = plan.prompt, plan.params, plan.window, plan.multiline
        stop = params.stop or ()
        language = language_of(document)
        key = (model.name, prompt.kind, prompt.prompt, tuple(prompt.messages), params)

        raw = self._cache.get(key)
        if raw is None:
            raw = await self._shared_call(
                key, model, prompt, params, automatic, superseded, on_wait, on_upstream
            )
            if raw is None:
                return None  # superseded while waiting
            self._cache[key] = raw
        else:
            self.on_cache_hit(model.name)
        if prompt.kind == "chat":
            raw = extract_chat_completion(raw, prefix=window.prefix)
        cleaned = postprocess(
            raw,
            prefix=window.prefix,
            suffix=window.suffix,
            multiline=multiline,
            stop=stop,
            special_tokens=special_tokens_for(model.model, model.promptTemplates.autocomplete),
            indent_unit=_indent_unit(window.prefix),
            reindent=prompt.kind == "chat",
            language=language,
        )
        if cleaned is None:
            return None
        text = cleaned.text
        eol = eol_near(window.prefix, window.suffix)
        if eol == "\r\n" and "\r\n" not in text:
            text = text.replace("\n", "\r\n")
        line_start = document.text.rfind("\n", 0, offset) + 1
        return Suggestion(
            id=uuid.uuid4().hex[:16],
            text=text,
            offset=offset,
            replace_chars=cleaned.replace_suffix_chars,
            model=model.name,
            line_prefix=document.text[line_start:offset],
            line_suffix=document.text[offset : document.line_end(offset)],
            line_start=line_start,
            version=version,
        )

    async def _shared_call(
        self,
        key: Hashable,
        model: ModelConfig,
        prompt: AutocompletePrompt,
        params: GenerationParams,
        automatic: bool,
        superseded: asyncio.Event,
        on_wait: WaitCallback | None,
        on_upstream: Callable[[str], None] | None,
    ) -> str | None:
        flight = self._flights.get(key)
        if flight is None or flight.task.done():
            flight = _Flight(
                asyncio.ensure_future(
                    self._call(model, prompt, params, automatic, on_wait, on_upstream)
                )
            )
            self._flights[key] = flight
            flight.task.add_done_callback(functools.partial(self._landed, key, flight))
        flight.waiters += 1
        stop_waiting = asyncio.ensure_future(superseded.wait())
        try:
            done, _ = await asyncio.wait(
                {flight.task, stop_waiting}, return_when=asyncio.FIRST_COMPLETED
            )
            if flight.task in done:
                return flight.task.result()
            return None
        finally:
            stop_waiting.cancel()
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                flight.task.cancel()  # nobody wants it any more: abort the HTTP request

    def _landed(self, key: Hashable, flight: _Flight, _task: object) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.task.cancelled():
            flight.task.exception()  # retrieved here so asyncio doesn't log it as lost

    async def _call(
        self,
        model: ModelConfig,
        prompt: AutocompletePrompt,
        params: GenerationParams,
        automatic: bool,
        on_wait: WaitCallback | None,
        on_upstream: Callable[[str], None] | None,
    ) -> str:
        if on_upstream is not None:
            on_upstream(model.name)
        loading: list[WaitEvent] = []
        task = asyncio.current_task()

        def waited(event: WaitEvent) -> None:
            if on_wait is not None:
                on_wait(event)
            if automatic and event.kind in ("loading", "waking") and task is not None:
                # An automatic request does not queue behind a cold model: the cold
                # start goes on upstream and a later request will find it warm.
                loading.append(event)
                task.cancel()

        try:
            if prompt.kind == "chat":
                messages = [ChatMessage(role, content) for role, content in prompt.messages]
                return await self.inference.chat(
                    model, messages, params, on_wait=waited, role="autocomplete",
                    automatic=automatic,
                )
            return await self.inference.generate(
                model, prompt.prompt, params, on_wait=waited, role="autocomplete",
                automatic=automatic,
            )
        except ModelLoadingError as error:
            # The client answers automatic requests for a loading model or a waking
            # endpoint at once: skip the model for the wait it announced.
            if automatic:
                announced = loading[-1].seconds if loading else None
                seconds = announced or error.estimated_time or 20.0
                self._loading_until[model.name] = time.monotonic() + min(seconds, 120.0)
            raise
        except asyncio.CancelledError:
            if not loading:
                raise
            event = loading[-1]
            seconds = event.seconds if event.seconds else 20.0
            self._loading_until[model.name] = time.monotonic() + min(seconds, 120.0)
            raise ModelLoadingError(
                "is loading", model=model.name, model_id=model.model, user_message=event.message
            ) from None
