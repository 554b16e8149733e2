"""From parsed compiler messages to LSP diagnostics, file by file.

A message is shown where the user can act on it: in the project file it names,
or, when Codon reports it inside its standard library, on the innermost line
of the user's own code in the realization chain. The whole chain goes along as
related information, standard-library frames included.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types

from codon_lsp.compiler_output import CompilerMessage, SourceLocation, parse_output
from codon_lsp.positions import (
    byte_range_to_lsp,
    code_point_column_to_byte,
    split_lines,
)
from codon_lsp.project_files import ProjectFiles, collect_project_files, stdlib_index
from codon_lsp.uris import path_to_uri

SOURCE = "codon"
STDIN_NAME = "<stdin>"
_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "note": types.DiagnosticSeverity.Information,
}
ReadSource = Callable[[Path], bytes | None]
CODE_POINT_MESSAGES = ("syntax error",)
"""Messages of Codon's parser, whose columns count code points, not bytes."""


@dataclass(frozen=True, kw_only=True)
class Place:
    """A message's location resolved to a real file and an LSP range."""

    path: Path
    in_project: bool
    range: types.Range


def _read_from_disk(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


class _Resolver:
    """Maps printed basenames to real files and byte columns to LSP ranges."""

    def __init__(
        self,
        project: ProjectFiles,
        stdlib: Path | None,
        encoding: str,
        read_source: ReadSource,
    ) -> None:
        self.project = project
        self.stdlib = stdlib_index(stdlib) if stdlib is not None else {}
        self.encoding = encoding
        self._read_source = read_source
        self._lines: dict[Path, list[bytes]] = {}

    def lines(self, path: Path) -> list[bytes]:
        if path not in self._lines:
            data = self._read_source(path)
            self._lines[path] = split_lines(data) if data is not None else []
        return self._lines[path]

    def place(self, location: SourceLocation, message: str) -> Place | None:
        path, in_project = self._file_for(location, message)
        if path is None:
            return None
        lines = self.lines(path)
        if message.startswith(CODE_POINT_MESSAGES):
            location = _in_bytes(lines, location)
        return Place(
            path=path,
            in_project=in_project,
            range=byte_range_to_lsp(
                lines,
                location.line,
                location.column,
                location.end_column,
                self.encoding,
            ),
        )

    def _file_for(
        self, location: SourceLocation, message: str
    ) -> tuple[Path | None, bool]:
        if location.file == STDIN_NAME or location.file == self.project.target.name:
            return self.project.target, True
        candidates = self.project.by_basename(location.file)
        if candidates:
            return self._most_likely(candidates, location, message), True
        stdlib_files = self.stdlib.get(location.file)
        if stdlib_files:
            return stdlib_files[0], False
        return None, False

    def _most_likely(
        self, candidates: list[Path], location: SourceLocation, message: str
    ) -> Path:
        """Among same-named project files, the one whose text fits the message best."""
        if len(candidates) == 1:
            return candidates[0]
        return max(candidates, key=lambda path: self._fit(path, location, message))

    def _fit(self, path: Path, location: SourceLocation, message: str) -> int:
        lines = self.lines(path)
        if not 1 <= location.line <= len(lines):
            return 0
        text = lines[location.line - 1]
        score = 1
        start = (location.column or 1) - 1
        end = location.end_column - 1 if location.end_column else start + 1
        span = text[start:end].strip()
        if location.column is None or start < len(text):
            score += 1
        if span:
            score += 1
            quoted = [
                part for index, part in enumerate(message.split("'")) if index % 2
            ]
            if any(name.encode() in span or span in name.encode() for name in quoted):
                score += 2
        return score


def _in_bytes(lines: list[bytes], location: SourceLocation) -> SourceLocation:
    """A location whose columns count code points, with byte columns instead."""
    if not 1 <= location.line <= len(lines):
        return location
    text = lines[location.line - 1]
    return dataclasses.replace(
        location,
        column=None
        if location.column is None
        else code_point_column_to_byte(text, location.column),
        end_column=None
        if location.end_column is None
        else code_point_column_to_byte(text, location.end_column),
    )


def _related(
    resolver: _Resolver, messages: list[tuple[CompilerMessage, Place | None]]
) -> list[types.DiagnosticRelatedInformation]:
    related = []
    for message, place in messages:
        location = message.location
        if place is None or location is None:
            continue
        related.append(
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=path_to_uri(place.path), range=place.range),
                message=f"{_shown_name(location.file, place)}:{location.line}: "
                f"{message.message}",
            )
        )
    return related


def _shown_name(printed: str, place: Place) -> str:
    """The file name to show: a buffer piped on stdin is shown as its file."""
    return place.path.name if printed == STDIN_NAME else printed


def _file_start(resolver: _Resolver, path: Path) -> types.Range:
    return byte_range_to_lsp(resolver.lines(path), 1, None, None, resolver.encoding)


def _import_line(resolver: _Resolver, target: Path, module_file: Path) -> types.Range:
    """The line of ``target`` that imports ``module_file``, else the first line."""
    stem = (
        module_file.stem if module_file.stem != "__init__" else module_file.parent.name
    )
    for number, line in enumerate(resolver.lines(target), start=1):
        words = line.replace(b",", b" ").replace(b".", b" ").split()
        if words[:1] in ([b"import"], [b"from"]) and stem.encode() in words:
            return byte_range_to_lsp(
                resolver.lines(target), number, None, None, resolver.encoding
            )
    return _file_start(resolver, target)


def _message_diagnostics(
    resolver: _Resolver, message: CompilerMessage, had_error: bool
) -> list[tuple[Path, types.Diagnostic]]:
    """The diagnostics one root message (with its chain) becomes."""
    target = resolver.project.target
    frames = [message, *message.chain]
    placed = [
        (
            frame,
            resolver.place(frame.location, frame.message) if frame.location else None,
        )
        for frame in frames
    ]
    project_places = [
        place for _, place in placed if place is not None and place.in_project
    ]
    root_place = placed[0][1]

    if not project_places and had_error and message.location is not None:
        # Follow-on noise from the standard library after a real error (0.18).
        return []

    primary = project_places[0] if project_places else None
    severity = _SEVERITY[message.severity]
    related = _related(
        resolver, [(frame, place) for frame, place in placed if place is not primary]
    )
    text = message.message
    if message.location is not None and (
        root_place is None or not root_place.in_project
    ):
        text = f"{text} (in {message.location.file}:{message.location.line})"

    results: list[tuple[Path, types.Diagnostic]] = []
    if primary is None:
        results.append(
            (
                target,
                _diagnostic(_file_start(resolver, target), severity, text, related),
            )
        )
        return results
    results.append((primary.path, _diagnostic(primary.range, severity, text, related)))
    if primary.path != target:
        in_target = [place for place in project_places if place.path == target]
        where = (
            in_target[-1].range
            if in_target
            else _import_line(resolver, target, primary.path)
        )
        summary = f"{primary.path.name}: {text}"
        results.append((target, _diagnostic(where, severity, summary, related)))
    return results


def _diagnostic(
    where: types.Range,
    severity: types.DiagnosticSeverity,
    message: str,
    related: list[types.DiagnosticRelatedInformation],
) -> types.Diagnostic:
    return types.Diagnostic(
        range=where,
        severity=severity,
        message=message,
        source=SOURCE,
        related_information=related or None,
    )


def diagnostics_from_output(
    stderr: str,
    *,
    target: Path,
    encoding: str = "utf-16",
    stdlib: Path | None = None,
    project: ProjectFiles | None = None,
    read_source: ReadSource | None = None,
) -> dict[Path, list[types.Diagnostic]]:
    """Diagnostics for every file the output names; the target is always a key."""
    project = project or collect_project_files(target)
    resolver = _Resolver(project, stdlib, encoding, read_source or _read_from_disk)
    result: dict[Path, list[types.Diagnostic]] = {project.target: []}
    had_error = False
    for message in parse_output(stderr).messages:
        for path, diagnostic in _message_diagnostics(resolver, message, had_error):
            result.setdefault(path, []).append(diagnostic)
        had_error = had_error or message.severity == "error"
    return result


def message_diagnostic(
    lines: list[bytes],
    message: str,
    severity: types.DiagnosticSeverity,
    encoding: str = "utf-16",
) -> types.Diagnostic:
    """A diagnostic on the file's first line for things that have no location."""
    where = byte_range_to_lsp(lines, 1, None, None, encoding)
    return _diagnostic(where, severity, message, [])


def not_utf8_diagnostic(
    source: bytes, encoding: str = "utf-16"
) -> types.Diagnostic | None:
    """A warning on the first byte that is not UTF-8, or None for a UTF-8 file.

    Codon reads sources as UTF-8; in any other encoding its messages about the
    file point at the wrong places, and nothing else would tell the user why.
    """
    try:
        source.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start
        line_start = source.rfind(b"\n", 0, offset) + 1
        line = source.count(b"\n", 0, offset) + 1
        column = offset - line_start + 1
        where = byte_range_to_lsp(
            split_lines(source), line, column, column + 1, encoding
        )
        message = (
            f"This file is not UTF-8 (byte 0x{source[offset]:02X} on line {line}). "
            "Codon reads sources as UTF-8, so its messages about this file may "
            "point at the wrong place: save the file as UTF-8."
        )
        return _diagnostic(where, types.DiagnosticSeverity.Warning, message, [])
    return None
