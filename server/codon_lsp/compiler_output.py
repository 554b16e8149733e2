"""Reading what the Codon compiler prints into structured messages.

Codon writes its messages to stderr with colour codes, one per line, in two
location styles (``file:LINE:COL-END`` up to 0.18, ``file:LINE (COL-END)``
since 0.19), sometimes without an end column or without any location. A
realization chain (``├─``/``╰─`` lines, innermost first) follows the message
it explains. The parser never raises: lines it does not understand are kept
as ``other_lines`` so a crash can still be shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

Severity = Literal["error", "warning", "note"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CHAIN_PREFIX = re.compile(r"^\s*[├╰└|`][─-]+\s?")
# The file name may hold colons and spaces (``a:b.py``): the shortest name
# followed by a line number and a severity is the one.
_MESSAGE = re.compile(
    r"^(?:(?P<file>[^\s:].*?):(?P<line>\d+)"
    r"(?:\s\((?P<pcol>\d+)(?:-(?P<pend>\d+))?\)|:(?P<ccol>\d+)(?:-(?P<cend>\d+))?)?"
    r":\s)?(?P<severity>error|warning|note):\s?(?P<message>.*)$"
)


@dataclass(frozen=True, kw_only=True)
class SourceLocation:
    """Where Codon says a message belongs: 1-based line, 1-based UTF-8 byte columns."""

    file: str
    """As printed: a basename, or ``<stdin>``."""
    line: int
    column: int | None = None
    end_column: int | None = None
    """Exclusive; may run past the end of the line."""


@dataclass(frozen=True, kw_only=True)
class CompilerMessage:
    """One message, with the realization chain that followed it (innermost first)."""

    severity: Severity
    message: str
    location: SourceLocation | None
    chain: tuple[CompilerMessage, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CompilerOutput:
    """Everything parsed from one compiler run."""

    messages: tuple[CompilerMessage, ...] = ()
    other_lines: tuple[str, ...] = field(default=())


_BYTE_ESCAPES = re.compile(r"(?:\\x[0-9a-fA-F]{2})+")


def decode_byte_escapes(text: str) -> str:
    """``'\\xc3\\xa9'`` -> ``'é'``: Codon escapes non-ASCII bytes in messages."""

    def decoded(match: re.Match[str]) -> str:
        raw = bytes.fromhex(match.group(0).replace("\\x", ""))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return match.group(0)

    return _BYTE_ESCAPES.sub(decoded, text)


def strip_colour(text: str) -> str:
    """Remove ANSI escape sequences (Codon prints them unconditionally)."""
    return _ANSI.sub("", text)


def _to_int(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def parse_line(line: str) -> tuple[bool, CompilerMessage] | None:
    """Parse one colour-free line: (is a chain frame, message), or None."""
    chain_prefix = _CHAIN_PREFIX.match(line)
    body = line[chain_prefix.end() :] if chain_prefix else line
    match = _MESSAGE.match(body.rstrip("\r"))
    if match is None:
        return None
    location = None
    line_number = _to_int(match["line"])
    if match["file"] is not None and line_number is not None:
        location = SourceLocation(
            file=match["file"],
            line=line_number,
            column=_to_int(match["pcol"] or match["ccol"]),
            end_column=_to_int(match["pend"] or match["cend"]),
        )
    severity: Severity = match["severity"]  # type: ignore[assignment]
    message = CompilerMessage(
        severity=severity,
        message=decode_byte_escapes(match["message"].strip()),
        location=location,
    )
    return chain_prefix is not None, message


def parse_output(text: str) -> CompilerOutput:
    """Parse a whole stderr transcript; never raises."""
    messages: list[CompilerMessage] = []
    other: list[str] = []
    for raw_line in strip_colour(text).splitlines():
        if not raw_line.strip():
            continue
        parsed = parse_line(raw_line)
        if parsed is None:
            other.append(raw_line)
            continue
        is_frame, message = parsed
        if is_frame and messages:
            root = messages[-1]
            messages[-1] = replace(root, chain=(*root.chain, message))
        else:
            messages.append(message)
    return CompilerOutput(messages=tuple(messages), other_lines=tuple(other))
