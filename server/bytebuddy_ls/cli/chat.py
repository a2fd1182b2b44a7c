"""``bytebuddy-ls chat "question" [--file PATH[:START-END]]``: stream the chat model's
answer to stdout."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .common import fail, inference_client, load_config, print_wait, run_async

if TYPE_CHECKING:
    from ..inference.types import Answer
    from ..prompting.chat import DocumentContext
    from ..workspace.engine import MentionContext

NAME = "chat"
HELP = "ask the chat model; the answer streams to stdout"

_LINES_SUFFIX = re.compile(r"^(?P<path>.+?):(?P<start>\d+)(?:-(?P<end>\d+))?$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("question", help="the question")
    parser.add_argument(
        "--file", metavar="PATH[:START-END]", help="a file (or 1-based lines of it) as context"
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: search)")


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


def read_context(file_spec: str) -> DocumentContext:
    """The ``--file`` argument as chat context; OSError/ValueError when it cannot be read."""
    from ..documents import language_for_path
    from ..prompting.chat import DocumentContext

    path, lines = parse_file_spec(file_spec)
    with open(path, encoding="utf-8", newline="") as handle:
        text = handle.read()
    return DocumentContext(
        text=text,
        path=path,
        language=language_for_path(Path(path)),
        selection=lines,
        cursor_line=lines[0] if lines else None,
    )


def run(args: argparse.Namespace) -> int:
    from ..config import models_for_role
    from ..features.chat import run_chat
    from ..inference import InferenceError

    loaded = load_config(args.config)
    if loaded is None:
        return 1
    chain = models_for_role(loaded.config, "chat")
    if not chain:
        return fail("no model serves the 'chat' role in the config")
    try:
        document = read_context(args.file) if args.file else None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return fail(f"cannot read --file: {exc}")
    streamed: list[str] = []

    def on_delta(delta: str) -> None:
        streamed.append(delta)
        sys.stdout.write(delta)
        sys.stdout.flush()

    async def chat() -> int:
        from ..workspace.engine import (
            ContextEngine,
            ContextOptions,
            remote_embedding_allowed,
            workspace_references,
        )

        async with inference_client(loaded) as client:
            # ``@workspace`` / ``@file`` from the command line: the workspace is the cwd.
            root = Path.cwd().resolve()
            engine = ContextEngine(lambda: [], lambda: root)
            engine.client = client
            engine.embed_chain = lambda: models_for_role(loaded.config, "embed")
            engine.remote_embedding_allowed = lambda: remote_embedding_allowed(loaded)
            engine.configure(ContextOptions.from_config(loaded.config.context))
            conversation, workspace = workspace_references(engine, [("user", args.question)])

            async def references(budget: int) -> Sequence[tuple[str, str]]:
                assert workspace is not None
                return await _gather_and_show(workspace, budget)

            try:
                wants_index = workspace is not None and workspace.mentions.workspace
                if wants_index and engine.start_index() is not None:
                    await engine.wait_for_index()
                content, _model = await run_chat(
                    client,
                    chain,
                    conversation,
                    document=document,
                    on_delta=on_delta,
                    on_wait=print_wait,
                    references=references if workspace is not None else None,
                )
            except InferenceError as error:
                if streamed:  # end the partial answer's line before the error
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                return fail(error.user_message)
            finally:
                engine.stop_index()
        _finish_answer(content)
        return 0

    return run_async(chat())


async def _gather_and_show(workspace: MentionContext, budget: int) -> Sequence[tuple[str, str]]:
    """The snippets the question's mentions bring in; each one's place (or why there is
    none) goes to stderr, so the user sees what the model was shown."""
    found = await workspace.gather(budget)
    summary = workspace.summary()
    for snippet in summary["snippets"]:
        where = f"{snippet['path']}:{snippet['startLine'] + 1}-{snippet['endLine']}"
        print(f"[context: {where}]", file=sys.stderr, flush=True)
    if summary["reason"]:
        print(f"[context: {summary['reason']}]", file=sys.stderr, flush=True)
    return found


def _finish_answer(content: Answer) -> None:
    """End the streamed answer's line, and say when the token limit cut it short."""
    if content and not content.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    if content.truncated:
        print(
            "[the answer was cut at the model's token limit: raise "
            "defaultCompletionOptions.maxTokens for longer answers]",
            file=sys.stderr,
        )
