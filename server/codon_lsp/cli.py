"""The ``codon-lsp`` command: the language server, and its jobs for terminals and CI.

``codon-lsp`` alone (or ``codon-lsp serve``) starts the server on stdio;
subcommands run the same checks, builds and runs from a terminal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from codon_lsp import __version__, build_commands, check_command, run_cli
from codon_lsp.logging_setup import configure_logging, flush_logs

EXIT_USAGE = 2


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stdio", action="store_true", help="talk LSP on stdio (the default)"
    )
    parser.add_argument(
        "--tcp", metavar="HOST:PORT", help="listen for one LSP client over TCP"
    )
    parser.add_argument(
        "--log-file", metavar="FILE", help="write JSON log lines to FILE"
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default=None
    )
    parser.add_argument("--metrics-port", type=int, metavar="PORT", default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codon-lsp",
        description="Language server and command line for the Codon compiler.",
    )
    parser.add_argument(
        "--version", action="version", version=f"codon-lsp {__version__}"
    )
    _add_serve_options(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = subparsers.add_parser("serve", help="run the language server (the default)")
    _add_serve_options(serve)
    check_command.add_parser(subparsers)
    build_commands.add_build_parser(subparsers)
    build_commands.add_scan_parser(subparsers)
    run_cli.add_parser(subparsers)
    return parser


def serve(args: argparse.Namespace) -> int:
    from codon_lsp.server import CommandLineOverrides, create_server

    # Before anything logs: structlog's default would write to stdout, the
    # protocol's stream in stdio mode.
    configure_logging(
        level=args.log_level or "info", log_file=args.log_file, stdio_mode=not args.tcp
    )
    overrides = CommandLineOverrides(
        log_level=args.log_level,
        log_file=args.log_file,
        metrics_port=args.metrics_port,
        stdio=not args.tcp,
    )
    server = create_server(overrides)
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        if not port.isdigit():
            print("codon-lsp: --tcp wants HOST:PORT", file=sys.stderr)
            return EXIT_USAGE
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "serve"):
        return serve(args)
    configure_logging(
        level=args.log_level or "warning", log_file=args.log_file, stdio_mode=False
    )
    try:
        status: int = args.func(args)
    finally:
        flush_logs()
    return status
