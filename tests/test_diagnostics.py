"""Mapping compiler messages onto files and LSP ranges."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from codon_lsp.diagnostics import diagnostics_from_output
from codon_lsp.positions import (
    byte_range_to_lsp,
    code_point_column_to_byte,
    split_lines,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types


def compile_stderr(codon: Path, program: Path) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            [str(codon), "build", "-cir", "-o", f"{scratch}/out.cir", str(program)],
            cwd=program.parent,
            capture_output=True,
            text=True,
            check=False,
        )
    return done.stderr


def test_columns_in_each_encoding() -> None:
    lines = split_lines('s = "😀é中"; y = s + 1\n'.encode())
    # 21 bytes precede `s + 1`, so Codon says columns 22-27 (1-based, end exclusive).
    utf16 = byte_range_to_lsp(lines, 1, 22, 27, "utf-16")
    utf8 = byte_range_to_lsp(lines, 1, 22, 27, "utf-8")
    utf32 = byte_range_to_lsp(lines, 1, 22, 27, "utf-32")
    assert (utf16.start.character, utf16.end.character) == (16, 21)
    assert (utf8.start.character, utf8.end.character) == (21, 26)
    assert (utf32.start.character, utf32.end.character) == (15, 20)


def test_ranges_are_clipped_to_the_line_and_the_file() -> None:
    lines = split_lines(b"abc\nde\n")
    past_end = byte_range_to_lsp(lines, 2, 2, 40)
    assert past_end == types.Range(
        start=types.Position(line=1, character=1),
        end=types.Position(line=1, character=2),
    )
    past_file = byte_range_to_lsp(lines, 99, 1, 2)
    assert past_file.start.line == 2


def test_without_end_column_one_character_is_underlined() -> None:
    lines = split_lines("x = é)\n".encode())
    where = byte_range_to_lsp(lines, 1, 5, None)
    assert (where.start.character, where.end.character) == (4, 5)


def test_same_named_modules_resolve_to_the_right_folder(
    codon: Path, tmp_path: Path
) -> None:
    for package in ("alpha", "beta"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    # Same line count in both, so only the text at the reported columns can decide.
    (tmp_path / "alpha" / "util.py").write_text(
        "def size() -> int:\n    value = 1\n    return value + 0\n"
    )
    (tmp_path / "beta" / "util.py").write_text(
        "def label() -> str:\n    text = 'b'\n    return text + missing_name\n"
    )
    program = tmp_path / "main.py"
    program.write_text(
        "from alpha.util import size\nfrom beta.util import label\n\n"
        "print(size(), label())\n"
    )

    stderr = compile_stderr(codon, program)
    assert "util.py" in stderr
    result = diagnostics_from_output(stderr, target=program)

    beta = (tmp_path / "beta" / "util.py").resolve()
    alpha = (tmp_path / "alpha" / "util.py").resolve()
    assert alpha not in result
    [on_beta] = result[beta]
    assert "missing_name" in on_beta.message
    assert on_beta.range.start.line == 2


def test_follow_on_stdlib_noise_after_a_real_error_is_dropped(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(x)\n")
    stderr = (
        "main.py:1:7-8: error: name 'x' is not defined\n"
        "time.codon:43:43-49: error: name 'stderr' is not defined\n"
    )
    result = diagnostics_from_output(stderr, target=program)
    assert [d.message for d in result[program.resolve()]] == ["name 'x' is not defined"]


def test_a_message_without_location_goes_on_the_first_line(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    result = diagnostics_from_output(
        "error: cannot typecheck the program\n", target=program
    )
    [diagnostic] = result[program.resolve()]
    assert diagnostic.range.start.line == 0
    assert diagnostic.message == "cannot typecheck the program"


_LINE = st.one_of(
    st.from_regex(
        r"\A(main|other|sort)\.(py|codon):\d{1,4}"
        r"( \(\d{1,4}(-\d{1,4})?\)|:\d{1,3})?: error: .{0,20}\Z"
    ),
    st.from_regex(
        r"\A╰─ main\.py:\d{1,4} \(\d{1,3}-\d{1,3}\): error: during .{0,10}\Z"
    ),
    st.text(max_size=30),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_LINE, max_size=6), st.text(max_size=80))
def test_mapping_never_raises(lines: list[str], source: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        program = Path(folder) / "main.py"
        program.write_text(source, encoding="utf-8", errors="surrogatepass")
        result = diagnostics_from_output("\n".join(lines), target=program)
        assert program.resolve() in result


TRANSCRIPTS = Path(__file__).parent / "data" / "transcripts"


@pytest.mark.parametrize("version", ["0.18.0", "0.19.3"])
@pytest.mark.parametrize(
    ("encoding", "character"), [("utf-16", 12), ("utf-8", 17), ("utf-32", 11)]
)
def test_syntax_error_columns_count_code_points(
    tmp_path: Path, version: str, encoding: str, character: int
) -> None:
    # Codon's parser counts code points: `)` is the 12th after `x = "é漢😀" +`,
    # where its type checker would have said byte 18.
    program = tmp_path / "syntax_error_non_ascii.py"
    program.write_bytes(
        (TRANSCRIPTS / "programs" / "syntax_error_non_ascii.py").read_bytes()
    )
    stderr = (TRANSCRIPTS / version / "syntax_error_non_ascii.stderr").read_text()

    [diagnostic] = diagnostics_from_output(stderr, target=program, encoding=encoding)[
        program
    ]

    assert diagnostic.message == "syntax error, unexpected ')'"
    assert (diagnostic.range.start.line, diagnostic.range.start.character) == (
        1,
        character,
    )
    assert diagnostic.range.end.character == character + 1


def test_a_live_syntax_error_after_an_emoji_lands_on_its_character(
    codon: Path, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text('# 😀😀😀😀\nx = "😀😀😀😀" +)\n')

    [diagnostic] = diagnostics_from_output(
        compile_stderr(codon, program), target=program
    )[program]

    assert diagnostic.range.start == types.Position(line=1, character=16)


def test_code_point_columns_become_byte_columns() -> None:
    text = "aé漢😀b".encode()
    assert [code_point_column_to_byte(text, column) for column in range(1, 7)] == [
        1,
        2,
        4,
        7,
        11,
        12,
    ]
    # Three code points past the end of the line stay three bytes past it.
    assert code_point_column_to_byte(text, 9) == 15
    assert code_point_column_to_byte(b"\xff\xfeab", 3) == 3
