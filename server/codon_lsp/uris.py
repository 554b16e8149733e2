"""Converting between ``file:`` URIs and paths (pygls's rules, None for others)."""

from __future__ import annotations

from pathlib import Path

from pygls.uris import from_fs_path, to_fs_path


def uri_to_path(uri: str) -> Path | None:
    """The local file behind a ``file:`` URI, or None for other schemes."""
    if not uri.startswith("file:"):
        return None
    fs_path = to_fs_path(uri)
    return Path(fs_path) if fs_path is not None else None


def path_to_uri(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()
