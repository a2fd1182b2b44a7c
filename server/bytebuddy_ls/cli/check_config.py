"""``bytebuddy-ls check-config [PATH]``: validate a config, print the role → model table."""

from __future__ import annotations

import argparse

NAME = "check-config"
HELP = "validate a config and show the role → model table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", metavar="PATH", help="config file (default: search)")


def run(args: argparse.Namespace) -> int:
    from ..config.report import check_config

    return check_config(args.path)
