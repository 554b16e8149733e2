"""Turning Codon's columns into LSP positions in the negotiated encoding.

Codon counts UTF-8 bytes from 1 with an exclusive end that may run past the
line, except in syntax errors, whose columns count code points (its parser's
unit, seen on 0.18.0 and 0.19.3); LSP counts code units of the negotiated
encoding (UTF-16 unless agreed otherwise) from 0. The unit counting itself is
pygls's ``PositionCodec``.
"""

from __future__ import annotations

import functools

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec


@functools.lru_cache(maxsize=4)
def _codec(encoding: str) -> PositionCodec:
    return PositionCodec(encoding=encoding)


def split_lines(data: bytes) -> list[bytes]:
    """Lines of a file as bytes, without their line endings."""
    return [line.rstrip(b"\r") for line in data.split(b"\n")]


def _units(line: bytes, byte_count: int, encoding: str) -> int:
    prefix = line[: max(byte_count, 0)].decode("utf-8", errors="replace")
    return int(_codec(encoding).client_num_units(prefix))


def _line_index(lines: list[bytes], line: int) -> int:
    return min(max(line - 1, 0), max(len(lines) - 1, 0))


def byte_range_to_lsp(
    lines: list[bytes],
    line: int,
    column: int | None,
    end_column: int | None,
    encoding: str = "utf-16",
) -> types.Range:
    """The LSP range of Codon's (1-based line, 1-based byte columns), clipped.

    Without a column the whole line is meant; without an end column, the
    character at the column (so the editor has something to underline).
    """
    index = _line_index(lines, line)
    text = lines[index] if lines else b""
    if column is None:
        return types.Range(
            start=types.Position(line=index, character=0),
            end=types.Position(line=index, character=_units(text, len(text), encoding)),
        )
    start_byte = min(column - 1, len(text))
    if end_column is None or end_column <= column:
        end_byte = _next_character_end(text, start_byte)
    else:
        end_byte = min(end_column - 1, len(text))
    return types.Range(
        start=types.Position(line=index, character=_units(text, start_byte, encoding)),
        end=types.Position(line=index, character=_units(text, end_byte, encoding)),
    )


def _next_character_end(text: bytes, start: int) -> int:
    """The byte just past the UTF-8 character that starts at ``start``."""
    end = start + 1
    while end < len(text) and (text[end] & 0xC0) == 0x80:
        end += 1
    return min(end, len(text))


def code_point_column_to_byte(text: bytes, column: int) -> int:
    """A 1-based code point column on ``text`` as a 1-based byte column.

    A byte that is not UTF-8 counts as one code point; a column past the end
    of the line stays past it by as much, so clipping still applies.
    """
    decoded = text.decode("utf-8", errors="surrogateescape")
    wanted = max(column - 1, 0)
    prefix = decoded[:wanted].encode("utf-8", errors="surrogateescape")
    return len(prefix) + max(wanted - len(decoded), 0) + 1
