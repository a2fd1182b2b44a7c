"""``bytebuddy/chat``: a question about the code, answered (and streamed) by the chat role.

Params ``{messages: [{role, content}], textDocument?: {uri}, range?, model?,
partialResultToken?}`` → ``{content, model}``. The document (and the range, or the
part around it) goes in front of the latest question, with its path and language; the
system prompt is the editor setting ``chat.systemPrompt`` (default:
``prompting.chat.DEFAULT_CHAT_SYSTEM_PROMPT``); history is dropped oldest-first to
fit the model's window (``defaultCompletionOptions.contextLength``, the server's
``/info`` limits, else DEFAULT_CONTEXT_TOKENS). ``model`` names a config model to use
instead of the chat role's chain.

With a ``partialResultToken`` the answer streams as ``$/progress`` notifications
``{token, value: {delta}}`` as the deltas arrive; the final result still carries the
whole text. ``$/cancelRequest`` cancels the handler task, which closes the upstream
HTTP stream. Upstream failures answer with an LSP error (RequestFailed) whose message
is the user-facing one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from ..lsp_types import CHAT_METHOD, ChatParams
from ..prompting.chat import (
    AnswerStart,
    DocumentContext,
    Message,
    build_chat_messages,
    range_to_lines,
    render_chat_prompt,
    trim_answer_start,
)
from ..prompting.context import prompt_token_budget
from .ask import no_model_message
from .errors import request_failed
from .progress import RequestProgress
from .workspace import display_path, require_document

if TYPE_CHECKING:
    from ..config import ModelConfig
    from ..inference import Answer, ChainStream, GenerationParams, InferenceClient, WaitCallback
    from ..server import ByteBuddyServer

PROGRESS_METHOD = "$/progress"
# The window assumed when neither the config nor the server tells (most chat models
# served today have at least this much).
DEFAULT_CONTEXT_TOKENS = 8192
# Room left for the answer when the config sets no maxTokens.
DEFAULT_ANSWER_TOKENS = 1024

DeltaCallback = Callable[[str], None]
ReferencesCallback = Callable[[int], Awaitable[Sequence[tuple[str, str]]]]


def chat_budget(model: ModelConfig, max_input: int | None, max_total: int | None) -> int:
    """Tokens the messages may take: the model's window minus room for the answer."""
    options = model.defaultCompletionOptions
    answer = options.maxTokens or DEFAULT_ANSWER_TOKENS
    window = options.contextLength or max_total or DEFAULT_CONTEXT_TOKENS
    return prompt_token_budget(
        max_tokens=answer,
        context_length=options.contextLength,
        max_input_tokens=max_input,
        max_total_tokens=max_total,
        cap=max(window - answer, 1),
    )


async def run_chat(
    inference: InferenceClient,
    chain: Sequence[ModelConfig],
    conversation: Sequence[Message],
    *,
    document: DocumentContext | None = None,
    system_prompt: str | None = None,
    on_delta: DeltaCallback | None = None,
    on_wait: WaitCallback | None = None,
    references: ReferencesCallback | None = None,
) -> tuple[Answer, ModelConfig]:
    """The chat chain's answer to ``conversation`` and the model that gave it.

    ``references(budget_tokens)`` supplies workspace code (``@workspace``/``@file``) for
    at most a third of the model's budget.

    ``on_delta`` gets each piece as it arrives (the answer streams when it is given).
    Raises ValueError without a user message, InferenceError when every model fails.
    """
    from ..inference import Answer, ChatMessage, GenerationParams

    first = chain[0]
    limits = await inference.limits(first)
    budget = chat_budget(first, limits.max_input_tokens, limits.max_total_tokens)
    refs = await references(budget // 3) if references is not None else ()
    messages = build_chat_messages(
        conversation,
        system_prompt=system_prompt,
        document=document,
        budget_tokens=budget,
        references=refs,
    )
    template = first.promptTemplates.chat

    def params_for(model: ModelConfig) -> GenerationParams:
        configured = model.defaultCompletionOptions.maxTokens
        # A text-generation route stops only at max tokens: give it a bound.
        fallback = DEFAULT_ANSWER_TOKENS if template else None
        return GenerationParams.for_model(model, max_tokens=None if configured else fallback)

    chat = [ChatMessage(role=role, content=content) for role, content in messages]
    if on_delta is None and not template:
        answer, model = await inference.chat_chain(
            chain, chat, params_for, on_wait=on_wait, role="chat"
        )
        return Answer(trim_answer_start(answer), answer.finish_reason), model
    stream: ChainStream
    if template:
        prompt = render_chat_prompt(messages, template=template, model_id=first.model)
        stream = inference.stream_generate_chain(
            chain, prompt, params_for, on_wait=on_wait, role="chat"
        )
    else:
        stream = inference.stream_chat_chain(chain, chat, params_for, on_wait=on_wait, role="chat")
    pieces: list[str] = []
    start = AnswerStart()
    async with aclosing(stream):
        async for delta in stream:
            shown = start.feed(delta)
            if not shown:
                continue
            pieces.append(shown)
            if on_delta is not None:
                on_delta(shown)
    return Answer("".join(pieces), stream.finish_reason), stream.model or first


def _chain_for(server: ByteBuddyServer, name: str | None) -> list[ModelConfig]:
    if name is None:
        chain = server.config.chain("chat")
        if not chain:
            raise request_failed(no_model_message(server, "chat"))
        return chain
    loaded = server.config.loaded
    model = loaded.config.model_named(name) if loaded else None
    if model is None:
        raise JsonRpcInvalidParams(f"no model named '{name}' in the config")
    if model.unusable:
        raise request_failed(model.unusable)
    return [model]


async def _document_context(
    server: ByteBuddyServer, params: ChatParams
) -> DocumentContext | None:
    if params.text_document is None:
        return None
    uri = params.text_document.uri
    document = await require_document(server, uri)
    selection = cursor = None
    if params.range is not None:
        lsp_range = params.range
        cursor = lsp_range.start.line
        if lsp_range.start != lsp_range.end:
            selection = range_to_lines(
                lsp_range.start.line, lsp_range.end.line, lsp_range.end.character
            )
    return DocumentContext(
        text=document.text,
        path=display_path(server, uri),
        language=document.language_id or None,
        selection=selection,
        cursor_line=cursor,
    )


async def answer_chat(server: ByteBuddyServer, params: ChatParams) -> dict[str, Any]:
    from ..inference import InferenceError
    from ..workspace.engine import workspace_references

    chain = _chain_for(server, params.model)
    document = await _document_context(server, params)
    token = params.partial_result_token
    conversation = [(turn.role, turn.content) for turn in params.messages]
    conversation, workspace = workspace_references(server.context_engine, conversation)

    def on_delta(delta: str) -> None:
        # pygls types $/progress: a plain dict fails to serialize.
        assert token is not None
        progress.answering()
        server.protocol.notify(
            PROGRESS_METHOD, types.ProgressParams(token=token, value={"delta": delta})
        )

    progress = RequestProgress(
        server, role="chat", title="ByteBuddy: chat", token=params.work_done_token
    )
    progress.start(chain[0].name, "chatting…")
    try:
        content, model = await run_chat(
            server.inference,
            chain,
            conversation,
            document=document,
            system_prompt=server.settings.chat.systemPrompt,
            on_delta=on_delta if token is not None else None,
            on_wait=progress.on_wait,
            references=workspace.gather if workspace is not None else None,
        )
    except ValueError as exc:
        progress.finish()
        raise JsonRpcInvalidParams(f"{CHAT_METHOD}: {exc}") from None
    except InferenceError as error:
        progress.finish(error)
        raise request_failed(error.user_message) from None
    except BaseException:  # cancelled: the stream is closed; put the status back
        progress.finish()
        raise
    progress.finish(model=model.name)
    result: dict[str, Any] = {"content": str(content), "model": model.name}
    if content.truncated:
        result["truncated"] = True  # cut by maxTokens: the editor says so
    if workspace is not None:
        result["context"] = workspace.summary()  # what @workspace/@file added
    return result


def register(server: ByteBuddyServer) -> None:
    @server.feature(CHAT_METHOD)
    async def chat(params: ChatParams) -> dict[str, Any]:
        return await answer_chat(server, params)
