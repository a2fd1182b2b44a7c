"""``bytebuddy-ls usage``: requests, tokens and cost from the usage ledger."""

from __future__ import annotations

import argparse

NAME = "usage"
HELP = "what the models were asked and what it cost (the usage ledger)"
GROUPINGS = ("model", "provider", "role", "operation", "day")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        default="7d",
        metavar="WHEN",
        help="a duration (30m, 24h, 7d, 2w), 'today', 'month' or a date (default 7d)",
    )
    parser.add_argument(
        "--by", default="model", choices=GROUPINGS, help="group rows by (default model)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")
    parser.add_argument("--config", metavar="PATH", help="config file (for a shared ledger)")


def run(args: argparse.Namespace) -> int:
    from ..usage.report import run_usage_cli

    return run_usage_cli(args.since, args.by, args.json, args.config)
