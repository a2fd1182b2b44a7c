"""Command line: ``bytebuddy-ls [COMMAND] ...``; without a command, ``serve``.

Each command is one module of this package with ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> exit status``; adding one is that module
plus its name in ``COMMANDS``. A command module imports only the standard library at
the top: every command's arguments are declared on each start, and ``serve`` must start
fast. Shared set-up (logging, config, inference client) is in ``common``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from .. import __version__

# Sub-command modules, in the order ``--help`` lists them; the first is the default.
COMMANDS = ("serve", "check_config", "complete", "chat", "context", "doctor", "usage")

_GLOBAL_FLAGS = frozenset({"-h", "--help", "--version"})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bytebuddy-ls",
        description="AI coding assistant language server for Hugging Face models.",
    )
    parser.add_argument("--version", action="version", version=f"bytebuddy-ls {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f".{name}", __name__)
        command = sub.add_parser(module.NAME, help=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    args_list = list(sys.argv[1:] if argv is None else argv)
    # ``bytebuddy-ls --config PATH`` is ``serve --config PATH``, as editors' docs write it.
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in _GLOBAL_FLAGS):
        args_list.insert(0, "serve")
    args = _parser().parse_args(args_list)
    status: int = args.run(args)
    return status
