"""What a program's failure looks like: run-time exceptions and deaths by signal.

A Codon program that raises prints ``Name: message``, a ``Raised from:``
block and (in debug mode, which ``codon run`` is) a backtrace whose frames end
``at /abs/path/file.py:LINE:COL``, then aborts. CPython prints a
``Traceback`` whose frames read ``File "/abs/path", line N``. Either becomes a
diagnostic on the user's line where the exception was raised or last passed
through the user's code. A death by signal (SIGFPE for an integer division
by zero in debug mode, SIGSEGV) has no location: it is said on the file.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from codon_lsp.compiler_output import strip_colour
from codon_lsp.positions import byte_range_to_lsp, split_lines
from codon_lsp.sandbox import ProcessResult

SOURCE = "codon run"

FramePredicate = Callable[[Path], bool]
"""Whether a frame's file is the user's code (not a library's)."""

_EXCEPTION = re.compile(r"^(?P<name>[A-Za-z_][\w.]*): ?(?P<message>.*)$")
_CODON_FRAME = re.compile(
    r"^\s*\[0x[0-9a-f]+\]\s+(?P<function>.*?)\s+at\s+(?P<path>/.*):(?P<line>\d+):(?P<column>\d+)\s*$"
)
_RAISED_AT = re.compile(r"^(?P<path>/.*):(?P<line>\d+):(?P<column>\d+)\s*$")
_PYTHON_FRAME = re.compile(
    r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<function>.*))?$'
)

_SIGNAL_MEANINGS = {
    signal.SIGFPE: "an arithmetic error, such as an integer division by zero",
    signal.SIGSEGV: "an invalid memory access, such as a too deep recursion",
    signal.SIGBUS: "an invalid memory access",
    signal.SIGILL: "an illegal instruction",
    signal.SIGABRT: "an abort",
    signal.SIGKILL: "a kill (the time limit, a cancel, or the kernel out of memory)",
}


@dataclass(frozen=True, kw_only=True)
class Frame:
    """One place in a backtrace: 1-based line and column."""

    function: str
    path: Path
    line: int
    column: int | None = None


@dataclass(frozen=True, kw_only=True)
class RuntimeException:
    """An uncaught exception as the program printed it; frames innermost first."""

    name: str
    message: str
    frames: tuple[Frame, ...]


def parse_codon_exception(stderr: str) -> RuntimeException | None:
    """The exception a Codon program died of, from what it printed on stderr."""
    lines = strip_colour(stderr).splitlines()
    start = _last_exception_line(lines)
    if start is None:
        return None
    header = _EXCEPTION.match(lines[start])
    assert header is not None
    frames: list[Frame] = []
    raised_at: Frame | None = None
    for text in lines[start + 1 :]:
        if frame := _CODON_FRAME.match(text):
            frames.append(
                _frame(frame["function"], frame["path"], frame["line"], frame["column"])
            )
        elif raised_at is None and (where := _RAISED_AT.match(text)):
            raised_at = _frame("", where["path"], where["line"], where["column"])
    if not frames and raised_at is not None:
        frames.append(raised_at)
    return RuntimeException(
        name=header["name"], message=header["message"], frames=tuple(frames)
    )


def parse_python_exception(stderr: str) -> RuntimeException | None:
    """The exception a CPython program died of, from its last traceback."""
    lines = stderr.splitlines()
    starts = [
        index
        for index, text in enumerate(lines)
        if text.startswith("Traceback (most recent call last)")
    ]
    if not starts:
        return None
    frames: list[Frame] = []
    name, message = "Exception", ""
    for text in lines[starts[-1] + 1 :]:
        if frame := _PYTHON_FRAME.match(text):
            frames.append(
                _frame(frame["function"] or "", frame["path"], frame["line"], None)
            )
        elif not text.startswith(" ") and (
            header := re.match(r"^([\w.]+)(?:: (.*))?$", text)
        ):
            name, message = header[1], header[2] or ""
    # CPython prints the outermost frame first.
    return RuntimeException(name=name, message=message, frames=tuple(reversed(frames)))


def _frame(function: str, path: str, line: str, column: str | None) -> Frame:
    return Frame(
        function=function,
        path=Path(path),
        line=int(line),
        column=int(column) if column is not None else None,
    )


def _last_exception_line(lines: list[str]) -> int | None:
    """Index of the ``Name: message`` line that a ``Raised from:`` block follows."""
    found = None
    for index, text in enumerate(lines):
        if not text.startswith("Raised from:"):
            continue
        for back in range(index - 1, -1, -1):
            if lines[back].strip() and _EXCEPTION.match(lines[back]):
                found = back
                break
    return found


def user_frame(exception: RuntimeException, is_user: FramePredicate) -> Frame | None:
    """The innermost frame in the user's code: where it was raised or passed through."""
    return next((frame for frame in exception.frames if is_user(frame.path)), None)


def describe_signal(number: int) -> str:
    """``killed by SIGFPE (an arithmetic error, ...)``."""
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"killed by signal {number}"
    meaning = _SIGNAL_MEANINGS.get(signal.Signals(number))
    return f"killed by {name} ({meaning})" if meaning else f"killed by {name}"


def failure_diagnostics(
    result: ProcessResult,
    exception: RuntimeException | None,
    *,
    target: Path,
    is_user: FramePredicate,
    encoding: str = "utf-16",
) -> dict[Path, list[types.Diagnostic]]:
    """Diagnostics for a failed run, per file; the target is always a key."""
    diagnostics: dict[Path, list[types.Diagnostic]] = {target: []}
    if exception is not None:
        frame = user_frame(exception, is_user)
        text = (
            f"{exception.name}: {exception.message}"
            if exception.message
            else exception.name
        )
        if frame is None:
            diagnostics[target].append(
                _on_file_start(target, f"{text} (raised outside this file)", encoding)
            )
            return diagnostics
        related = [
            other
            for other in exception.frames
            if other is not frame and is_user(other.path)
        ]
        diagnostics.setdefault(frame.path, []).append(
            _at(frame, text, encoding, related)
        )
        return diagnostics
    if result.timed_out:
        return diagnostics
    if result.signal is not None and not result.cancelled:
        message = (
            f"The program was {describe_signal(result.signal)}; it printed no location."
        )
        diagnostics[target].append(_on_file_start(target, message, encoding))
    return diagnostics


def _read_lines(path: Path) -> list[bytes]:
    try:
        return split_lines(path.read_bytes())
    except OSError:
        return []


def _statement_range(frame: Frame, encoding: str) -> types.Range:
    """The frame's line without its indentation: where the failing statement is."""
    lines = _read_lines(frame.path)
    if not 0 < frame.line <= len(lines):
        return byte_range_to_lsp(lines, frame.line, None, None, encoding)
    text = lines[frame.line - 1]
    indent = len(text) - len(text.lstrip())
    return byte_range_to_lsp(lines, frame.line, indent + 1, len(text) + 1, encoding)


def _function_name(frame: Frame) -> str:
    """Codon names a module's top level ``main.0`` and numbers overloads ``f.2``."""
    name = re.sub(r"\.\d+$", "", frame.function)
    if not name or name == "main":
        return "the module's top level"
    return f"`{name}`"


def _at(
    frame: Frame, text: str, encoding: str, passed: list[Frame]
) -> types.Diagnostic:
    where = _statement_range(frame, encoding)
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(
                uri=other.path.as_uri(), range=_statement_range(other, encoding)
            ),
            message=f"passed through {_function_name(other)}",
        )
        for other in passed
    ]
    return types.Diagnostic(
        range=where,
        severity=types.DiagnosticSeverity.Error,
        message=text,
        source=SOURCE,
        related_information=related or None,
    )


def _on_file_start(path: Path, message: str, encoding: str) -> types.Diagnostic:
    where = byte_range_to_lsp(_read_lines(path), 1, None, None, encoding)
    return types.Diagnostic(
        range=where,
        severity=types.DiagnosticSeverity.Error,
        message=message,
        source=SOURCE,
    )
