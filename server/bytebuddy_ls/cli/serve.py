"""``bytebuddy-ls serve``: run the language server (the default command)."""

from __future__ import annotations

import argparse

from ..log import setup_logging

NAME = "serve"
HELP = "run the language server (default: on stdio)"
LOG_LEVELS = ("debug", "info", "warning", "error")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (default)")
    mode.add_argument("--tcp", action="store_true", help="listen on a TCP port")
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    parser.add_argument(
        "--config", metavar="PATH", help="config file (overrides every other source)"
    )
    parser.add_argument("--log-file", metavar="PATH", help="log here instead of stderr")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="serve Prometheus metrics at http://127.0.0.1:N/metrics (extra 'metrics')",
    )


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_file)
    from ..server import build_server

    metrics = None
    if args.metrics_port is not None:
        from ..usage.metrics import start_metrics

        metrics = start_metrics(args.metrics_port)
        if metrics is None:
            return 2
    server = build_server(config_flag=args.config, log_file=args.log_file, metrics=metrics)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()
    return 0
