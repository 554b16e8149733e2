"""Running checks from the editor: one per file at a time, a bounded number at once.

A newer check of a file supersedes the running one: its compiler's process
group is killed and its result is never delivered. A global semaphore bounds
how many compilers run at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import structlog

from codon_lsp.checker import (
    Check,
    CheckRequest,
    CheckResult,
    ResultCache,
    as_cached,
    start_failure,
)
from codon_lsp.sandbox import SandboxError

log = structlog.get_logger("codon")


class Superseded(Exception):
    """A newer check of the same file replaced this one."""


class CheckScheduler:
    """Runs checks for the server; ``check`` returns a result or raises Superseded."""

    def __init__(
        self,
        max_concurrent: int,
        cache: ResultCache | None = None,
        on_started: Callable[[Check], None] | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._running: dict[Path, asyncio.Task[CheckResult]] = {}
        self.cache = cache if cache is not None else ResultCache()
        self._on_started = on_started

    def resize(self, max_concurrent: int) -> None:
        """Change the global limit; checks already waiting keep their place."""
        if max_concurrent != self._max_concurrent:
            self._slots = asyncio.Semaphore(max_concurrent)
            self._max_concurrent = max_concurrent

    @property
    def running(self) -> int:
        return sum(1 for task in self._running.values() if not task.done())

    async def check(self, request: CheckRequest) -> CheckResult:
        """Check a file, superseding any check of it still running."""
        path = request.path.resolve()
        self.cancel(path)
        task = asyncio.get_running_loop().create_task(self._run(request))
        self._running[path] = task
        try:
            await asyncio.wait({task})
        finally:
            if self._running.get(path) is task:
                del self._running[path]
        if task.cancelled():
            raise Superseded(str(path))
        return task.result()

    def cancel(self, path: Path) -> bool:
        """Cancel the running check of ``path``; True if there was one."""
        task = self._running.get(path.resolve())
        if task is None or task.done():
            return False
        task.cancel()
        return True

    async def _run(self, request: CheckRequest) -> CheckResult:
        check = await asyncio.to_thread(Check, request)
        cached = self.cache.get(check.key)
        if cached is not None:
            return cached
        async with self._slots:
            return await self._compile(check)

    async def _compile(self, check: Check) -> CheckResult:
        try:
            process = check.start()
        except SandboxError as error:
            check.cleanup()
            return start_failure(check, error)
        if self._on_started is not None:
            self._on_started(check)
        waiting = asyncio.ensure_future(asyncio.to_thread(process.wait))
        try:
            outcome = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            process.kill("cancel")
            with contextlib.suppress(Exception):
                await waiting
            check.cleanup()
            log.info("compile.superseded", path=str(check.target))
            raise
        result = await asyncio.to_thread(check.finish, outcome)
        if result.record.outcome in ("ok", "error"):
            self.cache.put(check.key, as_cached(result))
        return result

    async def shutdown(self) -> None:
        """Cancel every running check and wait until their compilers are gone."""
        tasks = [task for task in self._running.values() if not task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
