"""``bytebuddy-ls serve``: run the language server (the default command)."""

from __future__ import annotations

import argparse
from typing import Any

from ..log import setup_logging

NAME = "serve"
HELP = "run the language server (default: on stdio)"
LOG_LEVELS = ("debug", "info", "warning", "error")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (default)")
    mode.add_argument("--tcp", action="store_true", help="listen on a TCP port")
    mode.add_argument(
        "--socket", metavar="PATH", help="listen on a Unix socket (mode 0600): safe to share"
    )
    parser.add_argument("--host", default="127.0.0.1", help="TCP host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2087, help="TCP port (default 2087)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="let --host be a non-loopback address (anyone who connects uses your tokens)",
    )
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


def _import_server() -> Any:
    """``server.build_server``, imported without full garbage collections (the server
    settles its heap shortly after it starts: ``transport.settle_heap``)."""
    from ..transport import hold_full_collections

    hold_full_collections()
    from ..server import build_server

    return build_server


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from .. import transport

    setup_logging(args.log_level, args.log_file)
    if args.tcp:
        try:
            transport.check_host(args.host, allow_remote=args.allow_remote)
        except transport.TransportError as exc:
            print(f"bytebuddy-ls: {exc}", file=sys.stderr)
            return 2
    build_server = _import_server()

    metrics = None
    if args.metrics_port is not None:
        from ..usage.metrics import start_metrics

        metrics = start_metrics(args.metrics_port)
        if metrics is None:
            return 2
    # Over TCP the client may be any local process: it never chooses the config.
    server = build_server(
        config_flag=args.config,
        log_file=args.log_file,
        metrics=metrics,
        editor_config=not args.tcp,
    )
    try:
        if args.tcp:
            transport.serve_tcp(server, args.host, args.port, allow_remote=args.allow_remote)
        elif args.socket:
            transport.serve_socket(server, Path(args.socket))
        else:
            transport.serve_stdio(server)
    except (transport.TransportError, OSError) as exc:
        print(f"bytebuddy-ls: {exc}", file=sys.stderr)
        return 2
    return 0
