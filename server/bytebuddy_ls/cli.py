"""Command line: ``serve`` (default), ``check-config``, ``complete``, ``doctor``, ``chat``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import __version__
from .log import setup_logging

# Only what `serve` needs is imported up front: the editor waits for start-up.

LOG_LEVELS = ("debug", "info", "warning", "error")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bytebuddy-ls",
        description="AI coding assistant language server for Hugging Face models.",
    )
    parser.add_argument("--version", action="version", version=f"bytebuddy-ls {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the language server (default: on stdio)")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (default)")
    mode.add_argument("--tcp", action="store_true", help="listen on a TCP port")
    serve.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    serve.add_argument(
        "--config", metavar="PATH", help="config file (overrides every other source)"
    )
    serve.add_argument("--log-file", metavar="PATH", help="log here instead of stderr")
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="info")

    check = sub.add_parser("check-config", help="validate a config and show the role → model table")
    check.add_argument("path", nargs="?", metavar="PATH", help="config file (default: search)")

    complete = sub.add_parser("complete", help="print the autocomplete suggestion at a point")
    complete.add_argument("point", metavar="FILE:LINE:COL", help="1-based line and column")
    complete.add_argument("--config", metavar="PATH", help="config file (default: search)")

    doctor = sub.add_parser("doctor", help="check config, tokens and reachability of every model")
    doctor.add_argument("--config", metavar="PATH", help="config file (default: search)")
    doctor.add_argument("--timeout", type=float, default=4.0, help="seconds per reachability probe")

    chat = sub.add_parser("chat", help="ask the chat model; the answer streams to stdout")
    chat.add_argument("question", help="the question")
    chat.add_argument(
        "--file", metavar="PATH[:START-END]", help="a file (or 1-based lines of it) as context"
    )
    chat.add_argument("--config", metavar="PATH", help="config file (default: search)")

    endpoint = sub.add_parser(
        "endpoint",
        help="show, resume, pause or wait for a dedicated Inference Endpoint",
        description=(
            "Manage Hugging Face Inference Endpoints. NAME is an endpoint name or a config "
            "model with 'endpoint:'. Exit codes: 0 done (status: running), 1 error, "
            "3 status: not running, 124 wait: timed out."
        ),
    )
    endpoint.add_argument(
        "action", choices=("list", "status", "resume", "pause", "scale-to-zero", "wait")
    )
    endpoint.add_argument("name", nargs="?", metavar="NAME", help="endpoint or config model name")
    endpoint.add_argument(
        "--namespace", metavar="NS", help="user or org (default: config, else the token's user)"
    )
    endpoint.add_argument("--config", metavar="PATH", help="config file (default: search)")
    endpoint.add_argument("--timeout", type=float, default=900.0, help="wait: seconds (900)")
    endpoint.add_argument("--json", action="store_true", help="list, status: print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        return _serve(args)
    if command == "check-config":
        from .config.report import check_config

        return check_config(args.path)
    if command == "complete":
        from .features.autocomplete import run_complete_cli

        return run_complete_cli(args.point, args.config)
    if command == "doctor":
        from .doctor import run_doctor

        return run_doctor(args.config, timeout=args.timeout)
    if command == "chat":
        from .features.chat import cli_chat

        return cli_chat(args.question, args.file, args.config)
    if command == "endpoint":
        from .endpoints.cli import run as run_endpoint

        return run_endpoint(args)
    raise AssertionError(command)


def _serve(args: argparse.Namespace) -> int:
    setup_logging(getattr(args, "log_level", "info"), getattr(args, "log_file", None))
    from .server import build_server

    server = build_server(
        config_flag=getattr(args, "config", None), log_file=getattr(args, "log_file", None)
    )
    if getattr(args, "tcp", False):
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0
