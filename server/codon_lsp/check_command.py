"""``codon-lsp check``: the server's checks from a terminal or CI.

Files and folders (recursing into ``*.py`` and ``*.codon``) are checked the way
the server checks a saved file, several at once, and the result is printed as
the editor would show it: text for people, one JSON object for machines.
Exit status: 0 clean, 1 an error diagnostic, 2 a usage or toolchain problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog
from lsprotocol import types

from codon_lsp.checker import CheckError, CheckRequest, CheckResult, run_check
from codon_lsp.cli_arguments import (
    add_define_option,
    add_format_option,
    positive_int,
    positive_number,
)
from codon_lsp.settings import CompilerSettings, parse_define_arguments
from codon_lsp.toolchain import CodonNotFound, Toolchain, find_codon
from codon_lsp.uris import uri_to_path

log = structlog.get_logger("codon")

SOURCE_SUFFIXES = (".py", ".codon")
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "build", "dist", "venv"})
EXIT_CLEAN, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
_SEVERITY_NAMES = {1: "error", 2: "warning", 3: "information", 4: "hint"}


def add_parser(subparsers: Any) -> None:
    """Register ``check`` on the top-level parser."""
    parser = subparsers.add_parser(
        "check", help="check files or folders with Codon and print the diagnostics"
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    add_format_option(parser)
    parser.add_argument("--codon", metavar="PATH", help="the Codon compiler to use")
    add_define_option(parser, "a define passed to every compilation")
    parser.add_argument(
        "--timeout",
        type=positive_number,
        default=CompilerSettings().timeout_seconds,
        metavar="SECONDS",
        help="seconds before a compilation is killed (default: %(default)s)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=positive_int,
        default=CompilerSettings().max_concurrent,
        help="how many compilations run at once (default: the cores)",
    )
    parser.set_defaults(func=run)


def source_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The files named, and the Codon sources inside the folders named."""
    for path in paths:
        if path.is_dir():
            for found in sorted(path.rglob("*")):
                relative = found.relative_to(path).parts
                hidden = any(
                    part.startswith(".") or part in SKIPPED_FOLDERS
                    for part in relative[:-1]
                )
                if found.is_file() and found.suffix in SOURCE_SUFFIXES and not hidden:
                    yield found.resolve()
        else:
            yield path.resolve()


def run(args: argparse.Namespace) -> int:
    """Check the paths; print; return the exit status."""
    missing = [str(path) for path in args.paths if not path.exists()]
    if missing:
        print(
            f"codon-lsp check: no such file or folder: {', '.join(missing)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        toolchain = find_codon(args.codon)
        compiler = CompilerSettings(
            path=args.codon,
            defines=parse_define_arguments(args.defines),
            timeout_seconds=args.timeout,
            max_concurrent=args.jobs,
        )
    except (CodonNotFound, ValueError) as error:
        print(f"codon-lsp check: {error}", file=sys.stderr)
        return EXIT_USAGE

    files = list(dict.fromkeys(source_files(args.paths)))
    if not files:
        # A CI job pointed at the wrong folder must not pass by checking nothing.
        print(
            "codon-lsp check: no *.py or *.codon files in "
            f"{', '.join(str(path) for path in args.paths)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    results = check_files(files, toolchain, compiler)
    report = merge_results(files, results)
    if args.format == "json":
        print(json.dumps(json_report(toolchain, report), indent=2))
    else:
        print(text_report(report, checked=len(files)), end="")
    has_errors = any(
        d.severity == types.DiagnosticSeverity.Error
        for ds in report.values()
        for d in ds
    )
    return EXIT_ERRORS if has_errors else EXIT_CLEAN


def check_files(
    files: list[Path], toolchain: Toolchain, compiler: CompilerSettings
) -> list[CheckResult | CheckError]:
    """Check each file, ``compiler.max_concurrent`` at a time, in the given order."""

    def one(path: Path) -> CheckResult | CheckError:
        try:
            return run_check(
                CheckRequest(path=path, toolchain=toolchain, compiler=compiler)
            )
        except CheckError as error:
            return error

    with ThreadPoolExecutor(max_workers=compiler.max_concurrent) as pool:
        return list(pool.map(one, files))


def merge_results(
    files: list[Path], results: list[CheckResult | CheckError]
) -> dict[Path, list[types.Diagnostic]]:
    """Diagnostics per file, every checked file present, duplicates removed."""
    merged: dict[Path, list[types.Diagnostic]] = {path: [] for path in files}
    seen: set[tuple[Path, int, int, int, int, str]] = set()
    for path, result in zip(files, results, strict=True):
        if isinstance(result, CheckError):
            merged[path].append(_unreadable(str(result)))
            continue
        for file, diagnostics in result.diagnostics.items():
            for diagnostic in diagnostics:
                start, end = diagnostic.range.start, diagnostic.range.end
                key = (
                    file,
                    start.line,
                    start.character,
                    end.line,
                    end.character,
                    diagnostic.message,
                )
                if key not in seen:
                    seen.add(key)
                    merged.setdefault(file, []).append(diagnostic)
    return merged


def _unreadable(message: str) -> types.Diagnostic:
    origin = types.Position(line=0, character=0)
    return types.Diagnostic(
        range=types.Range(start=origin, end=origin),
        message=message,
        severity=types.DiagnosticSeverity.Error,
        source="codon",
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _range_json(where: types.Range) -> dict[str, Any]:
    return {
        "start": {"line": where.start.line, "character": where.start.character},
        "end": {"line": where.end.line, "character": where.end.character},
    }


def _path_of(uri: str) -> str:
    path = uri_to_path(uri)
    return str(path) if path is not None else uri


def diagnostic_json(diagnostic: types.Diagnostic) -> dict[str, Any]:
    """A diagnostic in the documented JSON shape of ``check --format json``."""
    return {
        "range": _range_json(diagnostic.range),
        "severity": _SEVERITY_NAMES.get(int(diagnostic.severity or 1), "error"),
        "message": diagnostic.message,
        "source": diagnostic.source,
        "relatedInformation": [
            {
                "path": _path_of(info.location.uri),
                "range": _range_json(info.location.range),
                "message": info.message,
            }
            for info in diagnostic.related_information or []
        ],
    }


def json_report(
    toolchain: Toolchain, report: dict[Path, list[types.Diagnostic]]
) -> dict[str, Any]:
    return {
        "codon": {"path": str(toolchain.executable), "version": toolchain.version_text},
        "files": [
            {
                "path": str(path),
                "diagnostics": [diagnostic_json(d) for d in diagnostics],
            }
            for path, diagnostics in report.items()
        ],
    }


def text_report(report: dict[Path, list[types.Diagnostic]], checked: int) -> str:
    """``path:line:column: severity: message`` lines, 1-based like compilers."""
    lines = []
    errors = warnings = 0
    for path, diagnostics in report.items():
        for diagnostic in diagnostics:
            severity = _SEVERITY_NAMES.get(int(diagnostic.severity or 1), "error")
            errors += severity == "error"
            warnings += severity == "warning"
            start = diagnostic.range.start
            first, *rest = diagnostic.message.splitlines() or [""]
            lines.append(
                f"{path}:{start.line + 1}:{start.character + 1}: {severity}: {first}"
            )
            lines.extend(f"    {line}" for line in rest)
            for info in diagnostic.related_information or []:
                where = info.location.range.start
                lines.append(
                    f"    {_path_of(info.location.uri)}:{where.line + 1}:"
                    f"{where.character + 1}: note: {info.message}"
                )
    lines.append(
        f"{_count(checked, 'file')} checked: {_count(errors, 'error')}, "
        f"{_count(warnings, 'warning')}"
    )
    return "\n".join(lines) + "\n"
