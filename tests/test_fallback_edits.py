"""CPython fallbacks as text edits, checked by compiling again with the real Codon."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from codon_lsp import program_runner
from codon_lsp.diagnostics import diagnostics_from_output
from codon_lsp.fallback_edits import (
    AUTO_PYTHON_DIRECTIVE,
    Fallback,
    apply_edits,
    fallbacks_for,
)
from lsprotocol import types

DATA = Path(__file__).parent / "data" / "fallbacks"


def _python_env() -> dict[str, str]:
    runtime = program_runner.describe_python(Path(sys.executable))
    return {"PATH": "/usr/bin:/bin", **program_runner.python_environment(runtime)}


def compile_errors(codon: Path, path: Path) -> list[types.Diagnostic]:
    """The error diagnostics the real Codon gives ``path``."""
    result = subprocess.run(
        [str(codon), "build", "-cir", "-o", str(path.with_suffix(".cir")), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = diagnostics_from_output(result.stderr, target=path)[path]
    errors = [d for d in found if d.severity == types.DiagnosticSeverity.Error]
    assert (result.returncode == 0) == (not errors), result.stderr
    return errors


def run_output(codon: Path, path: Path) -> str:
    result = subprocess.run(
        [str(codon), "run", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_python_env(),
        cwd=path.parent,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def fix_of_kind(source: str, error: types.Diagnostic, kind: str) -> Fallback:
    fixes = fallbacks_for(
        source, error.message, error.range.start.line, auto_python_supported=True
    )
    chosen = [fix for fix in fixes if fix.kind == kind]
    assert chosen, [fix.title for fix in fixes]
    return chosen[0]


def apply_fix(codon: Path, tmp_path: Path, name: str, kind: str) -> tuple[Path, str]:
    """Copy a data file, fix its first error with ``kind``; return it and the title."""
    path = tmp_path / name
    shutil.copy(DATA / name, path)
    source = path.read_text()
    errors = compile_errors(codon, path)
    assert errors
    fix = fix_of_kind(source, errors[0], kind)
    path.write_text(apply_edits(source, fix.edits))
    return path, fix.title


@pytest.mark.parametrize(
    ("name", "kind", "expected_output"),
    [
        ("import_socket.py", "python_import", "True\n"),
        ("import_socket.py", "auto_python", None),
        ("import_dotted.py", "python_import", "a\n"),
        ("import_several.py", "python_import", None),
        ("from_import_lines.py", "python_import", None),
        ("cannot_import_name.py", "python_import", None),
        ("eval_in_function.py", "python_decorator", "5\n"),
        ("eval_one_line.py", "python_decorator", None),
        ("stdlib_chain.py", "python_decorator", "1\n"),
    ],
)
def test_fix_makes_the_file_compile(
    codon: Path, tmp_path: Path, name: str, kind: str, expected_output: str | None
) -> None:
    path, _ = apply_fix(codon, tmp_path, name, kind)

    assert compile_errors(codon, path) == []
    if expected_output is not None:
        assert run_output(codon, path) == expected_output


def test_import_rewrite_keeps_the_names_the_file_uses(
    codon: Path, tmp_path: Path
) -> None:
    path, title = apply_fix(codon, tmp_path, "from_import_lines.py", "python_import")

    assert title == "Import `socket` from CPython"
    assert path.read_text() == (
        "from python import socket as _socket\n"
        "gethostname = _socket.gethostname\n"
        "inet = _socket.AF_INET\n"
        "\n"
        'print(gethostname() != "", inet)\n'
    )


def test_only_the_missing_module_leaves_a_plain_import(
    codon: Path, tmp_path: Path
) -> None:
    path, _ = apply_fix(codon, tmp_path, "import_several.py", "python_import")

    assert path.read_text().splitlines()[:2] == [
        "import math",
        "from python import socket",
    ]


def test_one_line_function_gets_its_body_on_its_own_line(
    codon: Path, tmp_path: Path
) -> None:
    path, title = apply_fix(codon, tmp_path, "eval_one_line.py", "python_decorator")

    assert title == "Run `f` in CPython (add @python)"
    assert path.read_text().splitlines()[:3] == [
        "@python",
        "def f():",
        '    return eval("2+3")',
    ]


def test_method_gets_no_decorator(codon: Path, tmp_path: Path) -> None:
    path = DATA / "eval_in_method.py"
    error = compile_errors(codon, _copy(path, tmp_path))[0]

    fixes = fallbacks_for(
        path.read_text(),
        error.message,
        error.range.start.line,
        auto_python_supported=True,
    )

    assert fixes == []


def test_generator_passes_the_decorator_to_its_enclosing_function(
    codon: Path, tmp_path: Path
) -> None:
    path, title = apply_fix(
        codon, tmp_path, "generator_in_function.py", "python_decorator"
    )

    assert title == "Run `outer` in CPython (add @python)"
    assert compile_errors(codon, path) == []
    assert run_output(codon, path) == "[5]\n"


def _copy(path: Path, folder: Path) -> Path:
    target = folder / path.name
    shutil.copy(path, target)
    return target


def _kinds(source: str, message: str, line: int, *, auto: bool = True) -> list[str]:
    return [
        fix.kind
        for fix in fallbacks_for(source, message, line, auto_python_supported=auto)
    ]


@pytest.mark.parametrize(
    "source",
    [
        "async def f():\n    return eval('1')\n",
        "@cache\ndef f():\n    return eval('1')\n",
        "def f():\n    yield eval('1')\n",
        "x = eval('1')\n",
    ],
)
def test_decorator_not_offered_where_it_cannot_apply(source: str) -> None:
    line = source.count("\n") - 1

    assert "python_decorator" not in _kinds(source, "name 'eval' is not defined", line)


def test_decorator_keeps_the_indentation_of_a_nested_function() -> None:
    source = (
        "def outer():\n    def inner():\n        return eval('1')\n    return inner()\n"
    )

    fix = fallbacks_for(
        source, "name 'eval' is not defined", 2, auto_python_supported=True
    )

    assert apply_edits(source, fix[0].edits).splitlines()[1:3] == [
        "    @python",
        "    def inner():",
    ]


def test_no_decorator_for_syntax_errors() -> None:
    source = "def f():\n    return )\n"

    assert _kinds(source, "syntax error, unexpected ')'", 1) == []


def test_auto_python_needs_codon_0_19_and_a_plain_import() -> None:
    plain = "import socket\n"
    from_form = "from socket import gethostname\n"
    message = "no module named 'socket'"

    assert _kinds(plain, message, 0) == ["python_import", "auto_python"]
    assert _kinds(plain, message, 0, auto=False) == ["python_import"]
    assert _kinds(from_form, message, 0) == ["python_import"]


def test_auto_python_goes_below_a_shebang_and_only_once() -> None:
    source = "#!/usr/bin/env codon\nimport socket\n"
    message = "no module named 'socket'"
    fix = fix_of_kind(source, _diagnostic(message, 1), "auto_python")

    assert apply_edits(source, fix.edits) == (
        f"#!/usr/bin/env codon\n{AUTO_PYTHON_DIRECTIVE}\nimport socket\n"
    )
    assert _kinds(AUTO_PYTHON_DIRECTIVE + "\n" + source, message, 2) == [
        "python_import"
    ]


def test_import_inside_a_block_keeps_its_indentation() -> None:
    source = "def f():\n    import socket as s\n    return s\n"

    fixes = fallbacks_for(
        source, "no module named 'socket'", 1, auto_python_supported=False
    )

    assert apply_edits(source, fixes[0].edits).splitlines()[1] == (
        "    from python import socket as s"
    )


def test_unrelated_and_relative_imports_get_no_rewrite() -> None:
    assert _kinds("import os\n", "no module named 'socket'", 0) == []
    assert _kinds("from . import zz\n", "no module named 'zz'", 0) == []
    assert _kinds("from socket import *\n", "no module named 'socket'", 0) == []


def _diagnostic(message: str, line: int) -> types.Diagnostic:
    where = types.Range(
        start=types.Position(line=line, character=0),
        end=types.Position(line=line, character=1),
    )
    return types.Diagnostic(range=where, message=message)
