"""``bytebuddy-ls context FILE:LINE:COL``: what the next prompt at that point takes from
other files (the context inspector, ``bytebuddy/context``, on the command line)."""

from __future__ import annotations

import argparse

from .common import inference_client, read_point_and_config, run_async

NAME = "context"
HELP = "show what the next prompt at a point would include from other files"
ROLES = ("autocomplete", "chat", "edit")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("point", metavar="FILE:LINE:COL", help="1-based line and column")
    parser.add_argument("--role", choices=ROLES, default="autocomplete")
    parser.add_argument("--query", help="chat/edit: the question to retrieve for")
    parser.add_argument("--json", action="store_true", help="the inspector's JSON answer")
    parser.add_argument("--config", metavar="PATH", help="config file (default: search)")


def run(args: argparse.Namespace) -> int:
    import json

    from ..config import models_for_role
    from ..features.context import (
        format_answer,
        inspect_autocomplete,
        inspect_retrieval,
        query_near,
    )
    from ..workspace.engine import ContextEngine, ContextOptions, remote_embedding_allowed

    read = read_point_and_config(args.point, args.config)
    if read is None:
        return 1
    point, loaded = read
    document, offset = point.document, point.offset

    async def inspect() -> int:
        async with inference_client(loaded) as client:
            engine = ContextEngine(lambda: [document], lambda: point.root)
            engine.client = client
            engine.embed_chain = lambda: models_for_role(loaded.config, "embed")
            engine.remote_embedding_allowed = lambda: remote_embedding_allowed(loaded)
            engine.configure(ContextOptions.from_config(loaded.config.context))
            try:
                if args.role == "autocomplete":
                    autocomplete = point.autocomplete(client, loaded, engine)
                    answer = await inspect_autocomplete(autocomplete, document, offset)
                else:
                    if engine.start_index() is not None:
                        await engine.wait_for_index()
                    query = args.query or query_near(document, offset)
                    answer = await inspect_retrieval(engine, args.role, query)
            finally:
                engine.stop_index()
        if args.json:
            print(json.dumps(answer, indent=2, ensure_ascii=False))
        else:
            print(format_answer(answer))
        return 0

    return run_async(inspect())
