"""``codon-lsp run [--python] FILE [-- ARGS...]``: a run from a terminal, same limits.

The program's output goes to our stdout and stderr as it comes; a run-time
exception is summed up as ``FILE:LINE: Name: message`` on stderr. The exit
status is the program's own, 128 + N for a death by signal N, 124 for the time
limit (as ``timeout`` does) and 2 when the run could not start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from codon_lsp import program_runner, runtime_errors
from codon_lsp.cli_arguments import positive_int, positive_number
from codon_lsp.compiler_output import strip_colour
from codon_lsp.sandbox import ProcessResult, SandboxError
from codon_lsp.settings import LimitSettings, PythonSettings, Settings
from codon_lsp.toolchain import CodonNotFound, find_codon

EXIT_TIMEOUT = 124
EXIT_CANNOT_RUN = 2


def add_parser(subparsers: Any) -> None:
    """Register ``run`` on the top-level parser."""
    defaults = LimitSettings()
    parser = subparsers.add_parser(
        "run", help="run a file with Codon (or CPython) inside the sandbox limits"
    )
    parser.add_argument("--python", action="store_true", help="run with CPython")
    parser.add_argument("--codon", metavar="PATH", help="the codon binary to use")
    parser.add_argument("--interpreter", metavar="PYTHON", help="the CPython to use")
    parser.add_argument(
        "--timeout",
        type=positive_number,
        default=defaults.timeout_seconds,
        metavar="SECONDS",
        help="wall-clock limit (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-mb",
        type=positive_int,
        default=defaults.memory_mb,
        help="address-space limit in MiB (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        default=defaults.threads,
        help="thread limit, as OMP_NUM_THREADS (default: %(default)s)",
    )
    parser.add_argument(
        "--max-output-bytes",
        type=positive_int,
        default=defaults.max_output_bytes,
        help="output kept; the rest is dropped (default: %(default)s)",
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="-- ARGS")
    parser.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        limits=LimitSettings(
            timeout_seconds=args.timeout,
            memory_mb=args.memory_mb,
            threads=args.threads,
            max_output_bytes=args.max_output_bytes,
        ),
        python=PythonSettings(interpreter=args.interpreter),
    )


class _Console:
    """Where the program's output and our notices meet the terminal."""

    def __init__(self) -> None:
        self._line_open = False

    def program(self, stream: Literal["stdout", "stderr"], text: str) -> None:
        """The program's output as it comes, colour codes kept for a terminal.

        Codon prints colour codes even into a pipe; a log file or a CI
        transcript reads better without them.
        """
        target = sys.stdout if stream == "stdout" else sys.stderr
        if not target.isatty():
            text = strip_colour(text)
        if text:
            target.write(text)
            target.flush()
            self._line_open = not text.endswith("\n")

    def note(self, text: str) -> None:
        """A line of ours on stderr, on a line of its own."""
        prefix = "\n" if self._line_open else ""
        sys.stderr.write(f"{prefix}codon-lsp run: {text}\n")
        sys.stderr.flush()
        self._line_open = False


def run(args: argparse.Namespace) -> int:
    """Run the file; return the status a shell should see."""
    program_args = args.args[1:] if args.args[:1] == ["--"] else args.args
    settings = _settings(args)
    console = _Console()
    file: Path = args.file
    if not file.is_file():
        problem = "not a file" if file.exists() else "no such file"
        console.note(f"{problem}: {file}")
        return EXIT_CANNOT_RUN
    try:
        if args.python:
            plan = program_runner.plan_python_run(file, program_args, settings)
        else:
            toolchain = find_codon(args.codon)
            plan = program_runner.plan_codon_run(
                toolchain.executable, file, program_args, settings
            )
        for notice in plan.notices:
            console.note(notice)
        result = program_runner.run(plan, console.program)
    except (CodonNotFound, program_runner.RunError, SandboxError) as error:
        console.note(str(error))
        return EXIT_CANNOT_RUN

    _summarise(console, plan, result)
    if result.timed_out:
        return EXIT_TIMEOUT
    return program_runner.exit_status(result)


def _summarise(
    console: _Console, plan: program_runner.RunPlan, result: ProcessResult
) -> None:
    if result.output_truncated:
        console.note("output beyond the limit was dropped")
    exception = program_runner.exception_of(plan, result)
    if exception is not None:
        frame = runtime_errors.user_frame(exception, plan.is_user_code)
        where = f"{frame.path}:{frame.line}: " if frame else ""
        console.note(f"{where}{exception.name}: {exception.message}")
    compile_error = program_runner.compile_error_of(plan, result)
    if compile_error is not None:
        console.note(f"{plan.file.name} did not compile: {compile_error}")
    elif not result.ok:
        ending = program_runner.describe_ending(
            result, plan.limits, exception.name if exception else None
        )
        console.note(f"{plan.file.name} {ending}")
