"""The compiler-output parser, on transcripts from real Codon 0.18.0 and 0.19.3."""

from __future__ import annotations

from pathlib import Path

import pytest
from codon_lsp.compiler_output import (
    SourceLocation,
    parse_line,
    parse_output,
    strip_colour,
)
from hypothesis import given, settings
from hypothesis import strategies as st

TRANSCRIPTS = Path(__file__).parent / "data" / "transcripts"


def transcript(version: str, program: str) -> str:
    return (TRANSCRIPTS / version / f"{program}.stderr").read_text(encoding="utf-8")


def test_colour_codes_are_stripped() -> None:
    raw = transcript("0.19.3", "syntax_error")
    assert "\x1b[" in raw
    assert "\x1b" not in strip_colour(raw)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "0.19.3",
            SourceLocation(file="syntax_error.py", line=2, column=10, end_column=None),
        ),
        (
            "0.18.0",
            SourceLocation(file="syntax_error.py", line=2, column=10, end_column=None),
        ),
    ],
)
def test_a_location_without_end_column(version: str, expected: SourceLocation) -> None:
    [message] = parse_output(transcript(version, "syntax_error")).messages
    assert message.severity == "error"
    assert message.message == "syntax error, unexpected ')'"
    assert message.location == expected


@pytest.mark.parametrize(
    ("version", "location"),
    [
        (
            "0.19.3",
            SourceLocation(file="emoji_column.py", line=1, column=19, end_column=24),
        ),
        (
            "0.18.0",
            SourceLocation(file="emoji_column.py", line=1, column=19, end_column=24),
        ),
    ],
)
def test_both_location_styles(version: str, location: SourceLocation) -> None:
    [message] = parse_output(transcript(version, "emoji_column")).messages
    assert message.location == location
    assert message.message.startswith("unsupported operand type(s) for +: 'str'")


def test_a_realization_chain_is_attached_innermost_first() -> None:
    [message] = parse_output(transcript("0.19.3", "chain_sorted")).messages
    assert message.location == SourceLocation(
        file="insertionsort.codon", line=10, column=30, end_column=52
    )
    files = [frame.location.file for frame in message.chain if frame.location]
    assert files == [
        "pdqsort.codon",
        "pdqsort.codon",
        "pdqsort.codon",
        "sort.codon",
        "sort.codon",
        "chain_sorted.py",
    ]
    assert message.chain[-1].message.startswith("during the realization of sorted(")
    assert message.chain[-1].location == SourceLocation(
        file="chain_sorted.py", line=7, column=11, end_column=17
    )


def test_a_chain_in_0_18_style() -> None:
    [message] = parse_output(transcript("0.18.0", "attribute_chain")).messages
    assert message.message == "'int' object has no attribute 'missing'"
    [frame] = message.chain
    assert frame.location == SourceLocation(
        file="attribute_chain.py", line=5, column=7, end_column=11
    )


def test_warnings() -> None:
    messages = parse_output(transcript("0.19.3", "auto_python")).messages
    assert [(m.severity, m.message) for m in messages] == [
        ("warning", "directive 'auto_python' = true"),
        ("warning", "importing 'socket' from Python"),
    ]


def test_several_root_messages_in_0_18() -> None:
    messages = parse_output(transcript("0.18.0", "no_module")).messages
    assert [m.location.line for m in messages if m.location] == [1, 3]


def test_a_message_without_location_and_unknown_lines() -> None:
    output = parse_output("error: cannot typecheck the program\nAssert failed: x\n")
    [message] = output.messages
    assert message.location is None
    assert message.message == "cannot typecheck the program"
    assert output.other_lines == ("Assert failed: x",)


def test_every_recorded_transcript_parses_to_messages() -> None:
    for path in sorted(TRANSCRIPTS.glob("*/*.stderr")):
        exit_status = int(path.with_suffix(".exit").read_text())
        output = parse_output(path.read_text(encoding="utf-8"))
        if exit_status == 1:
            assert any(m.severity == "error" for m in output.messages), path
        assert output.other_lines == (), path


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_the_parser_never_raises_on_any_text(text: str) -> None:
    output = parse_output(text)
    assert isinstance(output.messages, tuple)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.from_regex(
                r"\A[\w.<>]{1,12}:\d{1,6}( \(\d{0,5}(-\d{0,5})?\))?"
                r": (error|warning): .{0,30}\Z"
            ),
            st.from_regex(
                r"\A[├╰]─ [\w.]{1,12}:\d{1,5}:\d{1,5}(-\d{1,5})?: error: .{0,20}\Z"
            ),
            st.text(max_size=40),
        ),
        max_size=8,
    )
)
def test_the_parser_never_raises_on_near_misses(lines: list[str]) -> None:
    parse_output("\n".join(lines))


def test_escaped_utf8_bytes_in_messages_are_decoded() -> None:
    text = (
        "a.py:1 (5-13): error: unsupported operand type(s) for +: "
        "''\\xc3\\xa9'' and '1'\n"
    )
    [message] = parse_output(text).messages
    assert message.message == "unsupported operand type(s) for +: ''é'' and '1'"
    [kept] = parse_output("a.py:1 (1): error: bad \\xff byte\n").messages
    assert kept.message == "bad \\xff byte"


@pytest.mark.parametrize(
    ("line", "location", "is_frame"),
    [
        (
            "a:b.py:1 (5-12): error: no",
            SourceLocation(file="a:b.py", line=1, column=5, end_column=12),
            False,
        ),
        (
            "my file.py:3:4-6: warning: no",
            SourceLocation(file="my file.py", line=3, column=4, end_column=6),
            False,
        ),
        ("a:b.py:7: error: no", SourceLocation(file="a:b.py", line=7), False),
        (
            "10:20.py:2:1: error: no",
            SourceLocation(file="10:20.py", line=2, column=1),
            False,
        ),
        (
            "╰─ x:y.py:2 (1-3): error: no",
            SourceLocation(file="x:y.py", line=2, column=1, end_column=3),
            True,
        ),
    ],
)
def test_file_names_with_colons_and_spaces(
    line: str, location: SourceLocation, is_frame: bool
) -> None:
    parsed = parse_line(line)
    assert parsed is not None
    frame, message = parsed
    assert frame is is_frame
    assert message.location == location
    assert message.message == "no"


def test_a_colon_in_the_message_does_not_move_the_file_name() -> None:
    parsed = parse_line("main.py:4 (7-9): error: shapes.py:6: error: nested")
    assert parsed is not None
    assert parsed[1].location == SourceLocation(
        file="main.py", line=4, column=7, end_column=9
    )
    assert parsed[1].message == "shapes.py:6: error: nested"
