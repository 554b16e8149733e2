"""Runs with Codon and CPython: limits, environment, libpython, ``codon-lsp run``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from codon_lsp import cli, program_runner, run_cli
from codon_lsp.logging_setup import reset_logging
from codon_lsp.settings import LimitSettings, PythonSettings, Settings

RUNTIME = Path(__file__).parent / "data" / "fallbacks" / "runtime"


def _settings(**limits: float) -> Settings:
    return Settings(
        limits=LimitSettings(**limits),  # type: ignore[arg-type]
        python=PythonSettings(interpreter=sys.executable),
    )


def test_libpython_of_this_interpreter_is_found() -> None:
    runtime = program_runner.describe_python(Path(sys.executable))

    assert runtime.libpython is not None
    assert runtime.libpython.is_file()
    assert runtime.libpython.name.startswith("libpython3")
    assert program_runner.python_environment(runtime)["CODON_PYTHON"] == str(
        runtime.libpython
    )


def test_missing_libpython_says_what_to_install() -> None:
    runtime = program_runner._runtime_from(
        {
            "executable": "/nowhere/bin/python3",
            "base_prefix": "/nowhere",
            "version": [3, 11],
            "config": {"LIBDIR": "/nowhere/lib", "LDLIBRARY": "libpython3.11.a"},
        }
    )

    assert runtime.libpython is None
    assert runtime.missing_libpython is not None
    assert "apt-get install libpython3.11" in runtime.missing_libpython
    assert program_runner.python_environment(runtime) == {}


def test_missing_interpreter_is_our_error() -> None:
    with pytest.raises(program_runner.InterpreterNotFound, match=r"codon\.python"):
        program_runner.find_interpreter("/nowhere/python3")


def test_a_program_that_loops_forever_is_killed_at_the_time_limit(
    tmp_path: Path,
) -> None:
    target = tmp_path / "forever.py"
    target.write_text((RUNTIME / "forever.py").read_text())
    plan = program_runner.plan_python_run(target, [], _settings(timeout_seconds=1.0))

    result = program_runner.run(plan)

    assert result.timed_out
    assert program_runner.describe_ending(result, plan.limits) == (
        "killed after the time limit of 1 s"
    )


def test_memory_threads_secrets_and_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_API_TOKEN", "hidden")
    target = tmp_path / "probe.py"
    target.write_text(
        "import os, resource\n"
        "print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)\n"
        "print(os.environ.get('OMP_NUM_THREADS'), os.environ.get('MY_API_TOKEN'))\n"
        "print(os.getcwd())\n"
    )
    plan = program_runner.plan_python_run(
        target, [], _settings(memory_mb=1536, threads=3)
    )

    result = program_runner.run(plan)

    assert result.stdout.splitlines() == ["1536", "3 None", str(tmp_path.resolve())]


def test_codon_run_works_at_the_default_limits_with_cpython_and_threads(
    codon: Path, tmp_path: Path
) -> None:
    target = tmp_path / "interop.py"
    target.write_text(
        "from python import json\n"
        "print(json.dumps([1, 2]))\n"
        "total = 0\n"
        "@par(num_threads=8)\n"
        "for i in range(1000):\n"
        "    total += i\n"
        "print(total)\n"
    )
    plan = program_runner.plan_codon_run(codon, target, [], _settings())

    result = program_runner.run(plan)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "[1, 2]\n499500\n"
    assert "CODON_PYTHON" in plan.env


def _cli(argv: list[str]) -> int:
    # The real entry point, so stderr holds exactly what a terminal would see.
    try:
        return cli.main(["run", *argv])
    finally:
        reset_logging()


def test_cli_passes_arguments_and_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "status.py"
    target.write_text("import sys\nprint(sys.argv[1:])\nsys.exit(7)\n")

    status = _cli(
        ["--python", "--interpreter", sys.executable, str(target), "--", "a", "-b"]
    )

    assert status == 7
    assert capsys.readouterr().out == "['a', '-b']\n"


def test_cli_time_limit_exits_124(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "forever.py"
    target.write_text((RUNTIME / "forever.py").read_text())

    status = _cli(
        ["--python", "--interpreter", sys.executable, "--timeout", "1", str(target)]
    )

    assert status == run_cli.EXIT_TIMEOUT
    assert "killed after the time limit of 1 s" in capsys.readouterr().err


def test_cli_codon_exception_names_the_line(
    codon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "value_error.py"
    target.write_text((RUNTIME / "value_error.py").read_text())

    status = _cli(["--codon", str(codon), str(target)])

    captured = capsys.readouterr()
    assert status == 128 + 6
    assert captured.out == "start\n0\n1\n2\n"
    assert captured.err.splitlines()[-2:] == [
        f"codon-lsp run: {target.resolve()}:3: ValueError: bad value: 3",
        "codon-lsp run: value_error.py stopped by an uncaught ValueError"
        " (exit status 134)",
    ]


def test_cli_names_a_fatal_signal_once_with_its_meaning(
    codon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "division_by_zero.py"
    target.write_text((RUNTIME / "division_by_zero.py").read_text())

    status = _cli(["--codon", str(codon), str(target)])

    notes = [
        line
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("codon-lsp run:")
    ]
    assert status == 128 + 8
    assert notes == [
        "codon-lsp run: division_by_zero.py killed by SIGFPE"
        " (an arithmetic error, such as an integer division by zero)"
    ]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--memory-mb", "0"),
        ("--threads", "-1"),
        ("--max-output-bytes", "0"),
        ("--timeout", "-3"),
        ("--memory-mb", "lots"),
    ],
)
def test_cli_limits_that_would_not_be_limits_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    target = tmp_path / "main.py"
    target.write_text("print(1)\n")

    with pytest.raises(SystemExit) as ended:
        _cli([option, value, str(target)])

    assert ended.value.code == 2
    assert f"argument {option}: expected" in capsys.readouterr().err


def test_cli_says_when_a_run_ran_out_of_memory_under_the_limit(
    codon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Codon's JIT cannot compile even a one-line program in 512 MiB of address
    # space (docs/fallbacks.md): the abort is the limit's doing, not the code's.
    target = tmp_path / "main.py"
    target.write_text("print(1)\n")

    status = _cli(["--codon", str(codon), "--memory-mb", "512", str(target)])

    err = capsys.readouterr().err
    assert status == 128 + 6
    assert "std::bad_alloc" in err
    assert (
        "main.py killed by SIGABRT (an abort) after running out of memory under"
        " the limit of 512 MiB" in err
    )


def test_cli_says_when_a_run_did_not_compile(
    codon: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "broken.py"
    target.write_text('print(1 + "a")\n')

    status = _cli(["--codon", str(codon), str(target)])

    err = capsys.readouterr().err
    assert status == 1
    # Codon colours its messages even into a pipe; a pipe gets them plain.
    assert "\x1b" not in err
    assert "broken.py:1 (7-14): error: unsupported operand" in err
    assert err.splitlines()[-1] == (
        "codon-lsp run: broken.py did not compile:"
        " unsupported operand type(s) for +: '1' and ''a''"
    )


def test_cli_notices_start_on_a_line_of_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "main.py"
    target.write_text('print("hello", end="")\n')

    status = _cli(
        [
            *("--python", "--interpreter", sys.executable),
            *("--max-output-bytes", "3", str(target)),
        ]
    )

    captured = capsys.readouterr()
    assert status == 0
    assert captured.out == "hel"
    assert captured.err == "\ncodon-lsp run: output beyond the limit was dropped\n"


def test_cli_tells_a_folder_from_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli([str(tmp_path)]) == run_cli.EXIT_CANNOT_RUN
    assert capsys.readouterr().err == f"codon-lsp run: not a file: {tmp_path}\n"
    assert _cli([str(tmp_path / "gone.py")]) == run_cli.EXIT_CANNOT_RUN
    assert "no such file" in capsys.readouterr().err


def test_cli_missing_interpreter_names_the_option_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "main.py"
    target.write_text("print(1)\n")
    missing = tmp_path / "no-python"

    status = _cli(["--python", "--interpreter", str(missing), str(target)])

    assert status == run_cli.EXIT_CANNOT_RUN
    assert capsys.readouterr().err == (
        f"codon-lsp run: No Python interpreter found: looked for `{missing}`"
        " (codon.python.interpreter, or --interpreter). Install python3, or name"
        " one in codon.python.interpreter (--interpreter on the command line).\n"
    )
