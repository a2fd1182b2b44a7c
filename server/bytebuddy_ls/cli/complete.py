"""``bytebuddy-ls complete FILE:LINE:COL``: print the autocomplete suggestion there."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import fail, inference_client, load_config, print_wait, run_async

NAME = "complete"
HELP = "print the autocomplete suggestion at a point"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("point", metavar="FILE:LINE:COL", help="1-based line and column")
    parser.add_argument("--config", metavar="PATH", help="config file (default: search)")


def parse_point(point: str) -> tuple[Path, int, int]:
    """``FILE:LINE:COL`` with 1-based line and column (columns count characters)."""
    path, line, column = point.rsplit(":", 2)
    if not path or int(line) < 1 or int(column) < 1:
        raise ValueError(point)
    return Path(path), int(line), int(column)


def run(args: argparse.Namespace) -> int:
    from lsprotocol import types

    from ..config import models_for_role
    from ..documents import Document, language_for_path
    from ..features.autocomplete import Autocomplete, NoAutocompleteModel
    from ..inference import InferenceError
    from ..log import redact
    from ..workspace.engine import ContextEngine, ContextOptions
    from ..workspace.paths import workspace_root_of

    try:
        path, line, column = parse_point(args.point)
    except ValueError:
        return fail(f"expected FILE:LINE:COL (1-based), got '{args.point}'")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"cannot read {path}: {exc}")
    loaded = load_config(args.config)
    if loaded is None:
        return 1
    document = Document(path.resolve().as_uri(), text, 0, language_for_path(path) or "")
    offset = document.offset_at(types.Position(line=line - 1, character=0))
    offset = min(offset + column - 1, document.line_end(offset))

    root = workspace_root_of(path.resolve())
    context = ContextEngine(lambda: [document], lambda: root)
    context.configure(ContextOptions.from_config(loaded.config.context))

    async def complete() -> int:
        async with inference_client(loaded) as client:
            engine = Autocomplete(
                client,
                lambda role: models_for_role(loaded.config, role),
                debounce_ms=lambda: 0,
                workspace_root=lambda: str(root),
                context=context,
            )
            try:
                suggestion = await engine.request(
                    document, offset, automatic=False, on_wait=print_wait
                )
            except NoAutocompleteModel:
                return fail("no model has the 'autocomplete' role in the config")
            except InferenceError as error:
                return fail(redact(error.user_message))
        if suggestion is None:
            print("(no suggestion)", file=sys.stderr)
            return 0
        print(suggestion.text)
        return 0

    return run_async(complete())
