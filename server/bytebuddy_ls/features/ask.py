"""Asking a role's model on behalf of an LSP request: the fallback chain, the prompt
route (chat messages, or the model's own prompt template), progress while waiting, and
failures as RequestFailed with the user-facing message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypedDict

from ..prompting.chat import Message
from ..prompting.tokens import estimate_tokens
from .errors import request_failed
from .progress import RequestProgress

if TYPE_CHECKING:
    from ..config import ModelConfig, Role
    from ..inference import GenerationParams, WaitCallback
    from ..server import ByteBuddyServer

class _CallTags(TypedDict):
    """What every upstream call of a request carries besides its payload."""

    on_wait: WaitCallback
    role: str
    operation: str | None


# Answer size asked for when the config sets no maxTokens: room to rewrite the input
# (twice its size, for added docs/comments) within sane bounds.
MIN_ANSWER_TOKENS = 512
MAX_ANSWER_TOKENS = 4096


def answer_tokens_for(text: str) -> int:
    """A max-tokens value that lets the model rewrite ``text`` without being cut off."""
    return max(MIN_ANSWER_TOKENS, min(MAX_ANSWER_TOKENS, 2 * estimate_tokens(text) + 256))


def no_model_message(server: ByteBuddyServer, role: Role) -> str:
    if server.config.loaded is None:
        return (
            "bytebuddy-ls has no model config: create ~/.bytebuddy/config.yaml "
            "(see config.example.yaml) or set the editor setting 'configPath'."
        )
    return (
        f"No model serves the '{role}' role: add `roles: [{role}]` (or chat) to a model "
        "in the config."
    )


async def ask_model(
    server: ByteBuddyServer,
    role: Role,
    messages: Sequence[Message],
    *,
    render_prompt: Callable[[str, ModelConfig], str] | None = None,
    max_tokens: int | None = None,
    title: str,
    chain: Sequence[ModelConfig] | None = None,
    operation: str | None = None,
) -> tuple[str, ModelConfig]:
    """The answer of ``role``'s fallback chain to ``messages``, and the model that gave it.

    The chat route is used (the server applies the model's chat template) unless the
    first model sets ``promptTemplates.<role>``: then ``render_prompt(template, model)``
    is sent to the text-generation route. Waits show as status and work-done progress;
    failures raise RequestFailed with the user-facing message (auth problems are also
    shown once, by RequestProgress).
    """
    from ..inference import ChatMessage, GenerationParams, InferenceError

    models = list(chain) if chain is not None else server.config.chain(role)
    if not models:
        raise request_failed(no_model_message(server, role))
    first = models[0]
    template = getattr(first.promptTemplates, role, None)
    progress = RequestProgress(server, role=role, title=title)
    progress.start(first.name)

    def params_for(model: ModelConfig) -> GenerationParams:
        configured = model.defaultCompletionOptions.maxTokens
        return GenerationParams.for_model(model, max_tokens=None if configured else max_tokens)

    tags = _CallTags(on_wait=progress.on_wait, role=role, operation=operation)
    client = server.inference
    try:
        if template and render_prompt is not None:
            prompt = render_prompt(template, first)
            text, served = await client.generate_chain(models, prompt, params_for, **tags)
        else:
            chat = [ChatMessage(role=r, content=c) for r, c in messages]
            text, served = await client.chat_chain(models, chat, params_for, **tags)
    except InferenceError as error:
        progress.finish(error)
        raise request_failed(error.user_message) from None
    except BaseException:
        progress.finish()
        raise
    progress.finish(model=served.name)
    return text, served
