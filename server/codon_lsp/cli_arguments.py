"""Argument types and options that several ``codon-lsp`` subcommands share.

A limit of zero or less would not be a limit: Codon's runtime dies at start-up
under a zero address space, and a run killed that way would be blamed on the
program. Such values are usage errors (exit 2), as the settings reject them.
"""

from __future__ import annotations

import argparse
from typing import Any


def positive_number(text: str) -> float:
    """An argparse type: a number (of seconds, say) greater than 0."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            f"expected a number greater than 0, got {text!r}"
        )
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number greater than 0."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"expected a whole number greater than 0, got {text!r}"
        )
    return value


def add_define_option(parser: Any, help_text: str) -> None:
    """``-D NAME=VALUE``, repeatable, collected in ``args.defines``."""
    parser.add_argument(
        "-D",
        dest="defines",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"{help_text} (repeatable)",
    )


def add_format_option(parser: Any) -> None:
    """``--format text|json``, in ``args.format``."""
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (the default), json for machines",
    )
