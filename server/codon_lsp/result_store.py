"""Check results kept on disk, so unchanged files are answered after a restart.

The in-memory cache dies with the server; this SQLite file in the user's cache
folder keeps the same entries across editor sessions. A file reopened unchanged
gets the full check's own diagnostics at once instead of after a cold compile.
Entries are keyed like the in-memory cache (the file's and its imported project
files' contents, the flags, the compiler's identity) plus this server's version,
since how compiler output becomes diagnostics may change between versions.

The store is only ever a shortcut: any failure to read or write it is logged
once and the check simply compiles.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import platformdirs
import structlog
from lsprotocol import converters, types

from codon_lsp import __version__
from codon_lsp.checker import CheckResult
from codon_lsp.compile_record import CompileRecord

log = structlog.get_logger("codon")

RESULTS_FILE = "results.sqlite3"
MAX_ENTRIES = 2000
"""Entries kept; the least recently used go first (a few KiB each)."""
PRUNE_EVERY = 100
"""Saves between two prunings: pruning scans the table, saving does not."""
FORMAT = 1
"""The layout of a stored entry; a change makes older entries misses."""
LOCK_TIMEOUT_S = 0.5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    used_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS results_used_at ON results (used_at);
"""
_converter = converters.get_converter()


def default_cache_dir() -> Path:
    """The user's cache folder for codon-lsp (platformdirs; XDG_CACHE_HOME)."""
    return Path(platformdirs.user_cache_dir("codon-lsp"))


def encode(result: CheckResult) -> str:
    """A result as JSON text; paths as strings, diagnostics as LSP JSON."""
    return json.dumps(
        {
            "target": str(result.target),
            "diagnostics": {
                str(path): [_converter.unstructure(item) for item in items]
                for path, items in result.diagnostics.items()
            },
            "record": asdict(result.record),
            "touched": [str(path) for path in result.touched],
        }
    )


def decode(text: str) -> CheckResult:
    """The inverse of ``encode``; raises ValueError (or a cattrs error) if bad."""
    raw: dict[str, Any] = json.loads(text)
    return CheckResult(
        target=Path(raw["target"]),
        diagnostics={
            Path(path): [_converter.structure(item, types.Diagnostic) for item in items]
            for path, items in raw["diagnostics"].items()
        },
        record=CompileRecord(**raw["record"]),
        touched=tuple(Path(path) for path in raw["touched"]),
        from_cache=True,
    )


class ResultStore:
    """The on-disk cache; opened on first use, safe to share between threads."""

    def __init__(
        self,
        path: Path,
        max_entries: int = MAX_ENTRIES,
        prune_every: int = PRUNE_EVERY,
    ) -> None:
        self.path = path
        self._max_entries = max_entries
        self._prune_every = prune_every
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._saves = 0
        self._broken = False

    @staticmethod
    def stored_key(key: str) -> str:
        return f"{__version__}:{FORMAT}:{key}"

    def load(self, key: str) -> CheckResult | None:
        """The stored result for a cache key, or None (a miss or any failure)."""
        with self._lock:
            connection = self._open()
            if connection is None:
                return None
            try:
                row = connection.execute(
                    "SELECT payload FROM results WHERE key = ?", (self.stored_key(key),)
                ).fetchone()
                if row is None:
                    return None
                connection.execute(
                    "UPDATE results SET used_at = ? WHERE key = ?",
                    (time.time(), self.stored_key(key)),
                )
                connection.commit()
                return decode(row[0])
            except Exception as error:
                # A damaged row is a miss; the compile that follows replaces it.
                log.warning("cache.unreadable", path=str(self.path), error=str(error))
                return None

    def save(self, key: str, result: CheckResult) -> None:
        """Keep a result; the oldest entries beyond the bound are dropped."""
        with self._lock:
            connection = self._open()
            if connection is None:
                return
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO results (key, payload, used_at)"
                    " VALUES (?, ?, ?)",
                    (self.stored_key(key), encode(result), time.time()),
                )
                self._saves += 1
                if (self._saves - 1) % self._prune_every == 0:
                    self._prune(connection)
                connection.commit()
            except Exception as error:
                log.warning("cache.unwritable", path=str(self.path), error=str(error))

    def entries(self) -> int:
        """How many results are stored (for tests and the benchmark)."""
        with self._lock:
            connection = self._open()
            if connection is None:
                return 0
            return int(connection.execute("SELECT count(*) FROM results").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _prune(self, connection: sqlite3.Connection) -> None:
        connection.execute(
            "DELETE FROM results WHERE key NOT IN"
            " (SELECT key FROM results ORDER BY used_at DESC LIMIT ?)",
            (self._max_entries,),
        )

    def _open(self) -> sqlite3.Connection | None:
        if self._connection is not None or self._broken:
            return self._connection
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A short lock wait: another server writing is no reason to hold
            # up a check, which can always compile instead.
            connection = sqlite3.connect(
                self.path, timeout=LOCK_TIMEOUT_S, check_same_thread=False
            )
            # WAL: readers in other servers never wait for a writer; NORMAL
            # skips the fsync per commit, which a cache does not need.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            self._broken = True
            log.warning("cache.unavailable", path=str(self.path), error=str(error))
            return None
        self._connection = connection
        return connection
