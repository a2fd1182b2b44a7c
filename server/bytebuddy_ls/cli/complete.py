"""``bytebuddy-ls complete FILE:LINE:COL``: print the autocomplete suggestion there."""

from __future__ import annotations

import argparse
import sys

from .common import fail, inference_client, load_config, print_wait, read_point, run_async

NAME = "complete"
HELP = "print the autocomplete suggestion at a point"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("point", metavar="FILE:LINE:COL", help="1-based line and column")
    parser.add_argument("--config", metavar="PATH", help="config file (default: search)")


def run(args: argparse.Namespace) -> int:
    from ..config import models_for_role
    from ..features.autocomplete import Autocomplete, NoAutocompleteModel
    from ..inference import InferenceError
    from ..log import redact
    from ..workspace.engine import ContextEngine, ContextOptions
    from ..workspace.paths import workspace_root_of

    point = read_point(args.point)
    if point is None:
        return 1
    loaded = load_config(args.config)
    if loaded is None:
        return 1
    document, offset = point.document, point.offset
    root = workspace_root_of(point.path)
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
