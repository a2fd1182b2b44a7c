"""``bytebuddy-ls complete FILE:LINE:COL``: print the autocomplete suggestion there."""

from __future__ import annotations

import argparse
import sys

from .common import fail, inference_client, print_wait, read_point_and_config, run_async

NAME = "complete"
HELP = "print the autocomplete suggestion at a point"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("point", metavar="FILE:LINE:COL", help="1-based line and column")
    parser.add_argument("--config", metavar="PATH", help="config file (default: search)")


def run(args: argparse.Namespace) -> int:
    from ..features.autocomplete import NoAutocompleteModel
    from ..inference import InferenceError
    from ..log import redact
    from ..workspace.engine import ContextEngine, ContextOptions

    read = read_point_and_config(args.point, args.config)
    if read is None:
        return 1
    point, loaded = read
    document = point.document
    context = ContextEngine(lambda: [document], lambda: point.root)
    context.configure(ContextOptions.from_config(loaded.config.context))

    async def complete() -> int:
        async with inference_client(loaded) as client:
            engine = point.autocomplete(client, loaded, context)
            try:
                suggestion = await engine.request(
                    document, point.offset, automatic=False, on_wait=print_wait
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
