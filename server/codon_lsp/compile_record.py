"""The record of one finished compilation or run, as observers receive it.

The checker, the build pipeline and the run commands each produce one
``CompileRecord`` per child they started; logs, metrics and the
GraphMemory-IDE reporter consume them through ``CompileObserver``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

CompileKind = Literal["check", "build", "run"]
Outcome = Literal["ok", "error", "crash", "timeout", "cancelled"]


@dataclass(frozen=True, kw_only=True)
class CompileRecord:
    """One compilation (check or build) or one program run, finished."""

    path: str
    kind: CompileKind
    outcome: Outcome
    duration_s: float
    peak_memory_bytes: int | None
    codon_version: str | None
    errors: int = 0
    warnings: int = 0
    detail: str | None = None
    """A short human reason for crash, timeout and run failures."""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def fields(self) -> dict[str, Any]:
        """The record as flat log/event fields (``ok`` included)."""
        return {**asdict(self), "ok": self.ok}


CompileObserver = Callable[[CompileRecord], None]
