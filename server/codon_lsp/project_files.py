"""Which files a check touches, and which real file a printed basename means.

Codon prints only basenames. It resolves ``import a.b`` from the importing
file's folder first (``a/b.codon``, ``a/b/__init__.codon``, ``a/b.py``,
``a/b/__init__.py``), then its standard library. Reading the imports the same
way lists the project files a check can report on; a basename is then matched
against those files, and against the standard library.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAX_PROJECT_FILES = 500
"""A bound on the import walk, so a pathological tree cannot stall a check."""

_IMPORT_LINE = re.compile(
    r"^\s*(?:from\s+(?P<from>\.*[\w.]*)\s+import\s+(?P<names>.+)|import\s+(?P<mods>.+))$"
)


@dataclass(frozen=True, kw_only=True)
class ProjectFiles:
    """The target file and the project files it imports, directly or not."""

    target: Path
    files: tuple[Path, ...]

    def by_basename(self, name: str) -> list[Path]:
        return [path for path in self.files if path.name == name]


def module_candidates(folder: Path, dotted: str) -> list[Path]:
    """Files ``import dotted`` may mean from ``folder``, in Codon's order."""
    base = folder.joinpath(*[part for part in dotted.split(".") if part])
    return [
        base.with_name(base.name + ".codon"),
        base / "__init__.codon",
        base.with_name(base.name + ".py"),
        base / "__init__.py",
    ]


def resolve_module(folder: Path, dotted: str) -> Path | None:
    """The project file ``import dotted`` loads from ``folder``, if any."""
    if not dotted.strip("."):
        return None
    for candidate in module_candidates(folder, dotted):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(source: str) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import in ``source``."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _imported_modules_by_line(source)
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module != "python":
            module = "." * node.level + (node.module or "")
            found.append((module, [alias.name for alias in node.names]))
    return found


def _imported_modules_by_line(source: str) -> list[tuple[str, list[str]]]:
    """A forgiving reader for files that do not parse (the usual case with errors)."""
    found: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        match = _IMPORT_LINE.match(line)
        if match is None:
            continue
        if match["from"] is not None and match["from"] != "python":
            names = [n.split(" as ")[0].strip(" ()") for n in match["names"].split(",")]
            found.append((match["from"], [n for n in names if n]))
        elif match["mods"] is not None:
            for part in match["mods"].split(","):
                found.append((part.split(" as ")[0].strip(), []))
    return found


def _imports_of(path: Path, source: str) -> Iterable[Path]:
    folder = path.parent
    for module, names in _imported_modules(source):
        relative = module.lstrip(".")
        level = len(module) - len(relative)
        start = folder
        for _ in range(max(level - 1, 0)):
            start = start.parent
        resolved = resolve_module(start, relative) if relative else None
        if resolved is not None:
            yield resolved
        # `from pkg import sub` may name a submodule rather than a variable.
        package_folder = start.joinpath(*relative.split(".")) if relative else start
        for name in names:
            submodule = resolve_module(package_folder, name)
            if submodule is not None:
                yield submodule


def read_text(path: Path) -> str:
    """A file's text for import reading; bytes that are not UTF-8 are replaced."""
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def collect_project_files(
    target: Path, target_source: str | None = None
) -> ProjectFiles:
    """Walk the imports from ``target`` and list the project files reached."""
    target = target.resolve()
    seen: dict[Path, None] = {target: None}
    queue = [
        (target, target_source if target_source is not None else read_text(target))
    ]
    while queue and len(seen) < MAX_PROJECT_FILES:
        path, source = queue.pop()
        for imported in _imports_of(path, source):
            imported = imported.resolve()
            if imported not in seen:
                seen[imported] = None
                queue.append((imported, read_text(imported)))
    return ProjectFiles(target=target, files=tuple(seen))


@functools.lru_cache(maxsize=8)
def stdlib_index(stdlib: Path) -> dict[str, tuple[Path, ...]]:
    """Basename -> files of Codon's standard library (read once per install)."""
    index: dict[str, list[Path]] = {}
    if stdlib.is_dir():
        for path in sorted(stdlib.rglob("*.codon")):
            index.setdefault(path.name, []).append(path)
    return {name: tuple(paths) for name, paths in index.items()}
