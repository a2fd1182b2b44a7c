"""``bytebuddy-ls trust [PATH]``: trust the exact content of a workspace config."""

from __future__ import annotations

import argparse

NAME = "trust"
HELP = "trust a workspace config's exact content (its ${VAR}s, hosts and token use)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", metavar="PATH", help="config file or folder (default: .bytebuddy/ here)"
    )


def run(args: argparse.Namespace) -> int:
    from ..config.report import trust_config

    return trust_config(args.path)
