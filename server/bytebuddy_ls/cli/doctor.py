"""``bytebuddy-ls doctor``: config, tokens and reachability of every configured model."""

from __future__ import annotations

import argparse

NAME = "doctor"
HELP = "check config, tokens and reachability of every model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="config file (default: search)")
    parser.add_argument("--timeout", type=float, default=4.0, help="seconds per reachability probe")


def run(args: argparse.Namespace) -> int:
    from ..doctor import run_doctor

    return run_doctor(args.config, timeout=args.timeout)
