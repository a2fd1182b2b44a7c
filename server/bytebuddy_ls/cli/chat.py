"""``bytebuddy-ls chat "question" [--file PATH[:START-END]]``: stream the chat model's
answer to stdout."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .common import fail, inference_client, load_config, print_wait, run_async

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


def run(args: argparse.Namespace) -> int:
    from ..config import models_for_role
    from ..documents import language_for_path
    from ..features.chat import run_chat
    from ..inference import InferenceError
    from ..prompting.chat import DocumentContext

    loaded = load_config(args.config)
    if loaded is None:
        return 1
    chain = models_for_role(loaded.config, "chat")
    if not chain:
        return fail("no model serves the 'chat' role in the config")
    document = None
    if args.file:
        try:
            path, lines = parse_file_spec(args.file)
            with open(path, encoding="utf-8", newline="") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return fail(f"cannot read --file: {exc}")
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

    async def chat() -> int:
        async with inference_client(loaded) as client:
            try:
                content, _model = await run_chat(
                    client,
                    chain,
                    [("user", args.question)],
                    document=document,
                    on_delta=on_delta,
                    on_wait=print_wait,
                )
            except InferenceError as error:
                if streamed:  # end the partial answer's line before the error
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                return fail(error.user_message)
        if content and not content.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
        if content.truncated:
            print(
                "[the answer was cut at the model's token limit: raise "
                "defaultCompletionOptions.maxTokens for longer answers]",
                file=sys.stderr,
            )
        return 0

    return run_async(chat())
