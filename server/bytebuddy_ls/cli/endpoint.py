"""``bytebuddy-ls endpoint list|status|resume|pause|scale-to-zero|wait [NAME]``: dedicated
Inference Endpoints from the command line (the logic is in ``endpoints.cli``)."""

from __future__ import annotations

import argparse

NAME = "endpoint"
HELP = "show, resume, pause or wait for a dedicated Inference Endpoint"
ACTIONS = ("list", "status", "resume", "pause", "scale-to-zero", "wait")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Manage Hugging Face Inference Endpoints. NAME is an endpoint name or a config model "
        "with 'endpoint:'. Exit codes: 0 done (status: running), 1 error, 3 status: not "
        "running, 124 wait: timed out."
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("name", nargs="?", metavar="NAME", help="endpoint or config model name")
    parser.add_argument(
        "--namespace", metavar="NS", help="user or org (default: config, else the token's user)"
    )
    parser.add_argument("--config", metavar="PATH", help="config file (default: search)")
    parser.add_argument("--timeout", type=float, default=900.0, help="wait: seconds (900)")
    parser.add_argument("--json", action="store_true", help="list, status: print JSON")


def run(args: argparse.Namespace) -> int:
    from ..endpoints.cli import run as run_endpoint

    return run_endpoint(args)
