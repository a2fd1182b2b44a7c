"""``bytebuddy/chat`` (request) and ``bytebuddy-ls chat`` (command line).

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

import asyncio
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pydantic import BaseModel, ValidationError
from pygls.exceptions import JsonRpcInvalidParams

from ..config import ModelConfig
from ..documents import language_for_path
from ..inference import (
    ChainStream,
    ChatMessage,
    GenerationParams,
    InferenceClient,
    InferenceError,
    WaitCallback,
)
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
from .edit import (
    display_path,
    document_for,
    no_model_message,
    parse_range,
    request_failed,
)
from .progress import RequestProgress

if TYPE_CHECKING:
    from ..server import ByteBuddyServer

CHAT_METHOD = "bytebuddy/chat"
PROGRESS_METHOD = "$/progress"
# The window assumed when neither the config nor the server tells (most chat models
# served today have at least this much).
DEFAULT_CONTEXT_TOKENS = 8192
# Room left for the answer when the config sets no maxTokens.
DEFAULT_ANSWER_TOKENS = 1024

DeltaCallback = Callable[[str], None]


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
) -> tuple[str, ModelConfig]:
    """The chat chain's answer to ``conversation`` and the model that gave it.

    ``on_delta`` gets each piece as it arrives (the answer streams when it is given).
    Raises ValueError without a user message, InferenceError when every model fails.
    """
    first = chain[0]
    limits = await inference.limits(first)
    budget = chat_budget(first, limits.max_input_tokens, limits.max_total_tokens)
    messages = build_chat_messages(
        conversation, system_prompt=system_prompt, document=document, budget_tokens=budget
    )
    template = first.promptTemplates.chat

    def params_for(model: ModelConfig) -> GenerationParams:
        configured = model.defaultCompletionOptions.maxTokens
        # A text-generation route stops only at max tokens: give it a bound.
        fallback = DEFAULT_ANSWER_TOKENS if template else None
        return GenerationParams.for_model(model, max_tokens=None if configured else fallback)

    chat = [ChatMessage(role=role, content=content) for role, content in messages]
    if on_delta is None and not template:
        answer, model = await inference.chat_chain(chain, chat, params_for, on_wait=on_wait)
        return trim_answer_start(answer), model
    stream: ChainStream
    if template:
        prompt = render_chat_prompt(messages, template=template, model_id=first.model)
        stream = inference.stream_generate_chain(chain, prompt, params_for, on_wait=on_wait)
    else:
        stream = inference.stream_chat_chain(chain, chat, params_for, on_wait=on_wait)
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
    return "".join(pieces), stream.model or first


# ---------------------------------------------------------------------------
# LSP


class ChatTurn(BaseModel):
    role: str
    content: str


class TextDocumentRef(BaseModel):
    uri: str


class ChatParams(BaseModel):
    messages: list[ChatTurn]
    textDocument: TextDocumentRef | None = None
    range: dict[str, Any] | None = None
    model: str | None = None
    partialResultToken: str | int | None = None
    workDoneToken: str | int | None = None


def plain(value: Any) -> Any:
    """pygls hands params of custom methods over as namedtuples; back to JSON shapes."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


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


def _document_context(server: ByteBuddyServer, params: ChatParams) -> DocumentContext | None:
    if params.textDocument is None:
        return None
    uri = params.textDocument.uri
    document = document_for(server, uri)
    if document is None:
        raise JsonRpcInvalidParams(f"unknown document {uri}: open it in the editor first")
    selection = cursor = None
    if params.range is not None:
        lsp_range = parse_range(params.range)
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


def register(server: ByteBuddyServer) -> None:
    @server.feature(CHAT_METHOD)
    async def chat(raw: Any) -> dict[str, Any]:
        try:
            params = ChatParams.model_validate(plain(raw))
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in error["loc"])
            raise JsonRpcInvalidParams(
                f"{CHAT_METHOD} expects {{messages: [{{role, content}}], textDocument?, "
                f"range?, model?, partialResultToken?}}: {where}: {error['msg']}"
            ) from None
        chain = _chain_for(server, params.model)
        document = _document_context(server, params)
        token = params.partialResultToken

        def on_delta(delta: str) -> None:
            # pygls types $/progress: a plain dict fails to serialize.
            assert token is not None
            progress.answering()
            server.protocol.notify(
                PROGRESS_METHOD, types.ProgressParams(token=token, value={"delta": delta})
            )

        progress = RequestProgress(
            server, role="chat", title="ByteBuddy: chat", token=params.workDoneToken
        )
        progress.start(chain[0].name, "chatting…")
        try:
            content, model = await run_chat(
                server.inference,
                chain,
                [(turn.role, turn.content) for turn in params.messages],
                document=document,
                system_prompt=server.settings.chat.systemPrompt,
                on_delta=on_delta if token is not None else None,
                on_wait=progress.on_wait,
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
        return {"content": content, "model": model.name}


# ---------------------------------------------------------------------------
# Command line

_LINES_SUFFIX = re.compile(r"^(?P<path>.+?):(?P<start>\d+)(?:-(?P<end>\d+))?$")


def parse_file_spec(spec: str) -> tuple[str, tuple[int, int] | None]:
    """``PATH[:START-END]`` (1-based, inclusive lines; ``PATH:N`` is one line) → the path
    and a 0-based end-exclusive line range. A path that exists as written wins, so
    names containing ``:`` still work."""
    match = _LINES_SUFFIX.match(spec)
    if match is None or Path(spec).exists():
        return spec, None
    start = int(match["start"])
    end = int(match["end"]) if match["end"] else start
    if start < 1 or end < start:
        raise ValueError(f"bad line range in '{spec}': use PATH:START-END with 1 <= START <= END")
    return match["path"], (start - 1, end)


def cli_chat(question: str, file_spec: str | None, config_path: str | None) -> int:
    """``bytebuddy-ls chat``: stream the chat model's answer to stdout; 0 on success."""
    from ..config import models_for_role
    from ..config.report import load_or_report
    from ..inference import HostPolicy
    from ..log import setup_logging

    setup_logging("error")  # failures are printed once, below, not logged too
    loaded = load_or_report(config_path)
    if loaded is None:
        return 1
    chain = models_for_role(loaded.config, "chat")
    if not chain:
        print("no model serves the 'chat' role in the config", file=sys.stderr)
        return 1
    document = None
    if file_spec:
        try:
            path, lines = parse_file_spec(file_spec)
            with open(path, encoding="utf-8", newline="") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"cannot read --file: {exc}", file=sys.stderr)
            return 1
        document = DocumentContext(
            text=text,
            path=path,
            language=language_for_path(Path(path)),
            selection=lines,
            cursor_line=lines[0] if lines else None,
        )

    streamed: list[str] = []

    def on_delta(delta: str) -> None:
        streamed.append(delta)
        sys.stdout.write(delta)
        sys.stdout.flush()

    def on_wait(event: Any) -> None:
        print(f"[{event.message}]", file=sys.stderr, flush=True)

    async def main() -> str:
        inference = InferenceClient(user_agent="cli")
        inference.set_host_policy(HostPolicy.for_config(loaded))
        try:
            content, _model = await run_chat(
                inference,
                chain,
                [("user", question)],
                document=document,
                on_delta=on_delta,
                on_wait=on_wait,
            )
            return content
        finally:
            await inference.aclose()

    try:
        content = asyncio.run(main())
    except InferenceError as error:
        if streamed:  # end the partial answer's line before the error
            sys.stdout.write("\n")
            sys.stdout.flush()
        print(error.user_message, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if content and not content.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 0
