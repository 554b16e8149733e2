"""The diagnostics currently shown, per file and per producer.

Several producers put diagnostics on a file: the check of that file, the check
of another file that imports it, a run, a build. Each owns its part; a file is
published as the union of its parts, and a producer's new result replaces its
old one everywhere, clearing files it no longer reports on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lsprotocol import types

Publish = Callable[[Path, list[types.Diagnostic]], None]

_SEVERITY_NAMES = {
    types.DiagnosticSeverity.Error: "error",
    types.DiagnosticSeverity.Warning: "warning",
    types.DiagnosticSeverity.Information: "information",
    types.DiagnosticSeverity.Hint: "hint",
}


def check_owner(target: Path) -> str:
    """The producer name of the check of ``target``."""
    return f"check:{target}"


class DiagnosticStore:
    """Keeps each producer's diagnostics and publishes unions when they change."""

    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._parts: dict[Path, dict[str, list[types.Diagnostic]]] = {}

    def replace(self, owner: str, per_file: dict[Path, list[types.Diagnostic]]) -> None:
        """Make ``per_file`` the owner's whole contribution, clearing the rest."""
        before = {path for path, parts in self._parts.items() if owner in parts}
        changed = before | set(per_file)
        for path in before - set(per_file):
            del self._parts[path][owner]
        for path, diagnostics in per_file.items():
            self._parts.setdefault(path, {})[owner] = list(diagnostics)
        for path in sorted(changed):
            self._send(path)

    def set(self, owner: str, path: Path, diagnostics: list[types.Diagnostic]) -> None:
        """Set the owner's diagnostics on one file, leaving its other files alone."""
        self._parts.setdefault(path, {})[owner] = list(diagnostics)
        self._send(path)

    def clear_owner(self, owner: str) -> None:
        self.replace(owner, {})

    def forget_file(self, path: Path) -> None:
        """Clear everything shown on ``path`` (the editor closed it)."""
        if self._parts.pop(path, None) is not None:
            self._publish(path, [])

    def shown(self, path: Path) -> list[types.Diagnostic]:
        return [d for part in self._parts.get(path, {}).values() for d in part]

    def counts(self) -> dict[str, int]:
        """How many diagnostics of each severity are shown now."""
        counts = dict.fromkeys(_SEVERITY_NAMES.values(), 0)
        for parts in self._parts.values():
            for diagnostics in parts.values():
                for diagnostic in diagnostics:
                    name = _SEVERITY_NAMES.get(
                        diagnostic.severity or types.DiagnosticSeverity.Error, "error"
                    )
                    counts[name] += 1
        return counts

    def _send(self, path: Path) -> None:
        diagnostics = self.shown(path)
        if not diagnostics:
            self._parts.pop(path, None)
        self._publish(path, diagnostics)
