"""Running checks from the editor: one per file at a time, a bounded number at once.

A newer check of a file supersedes the running one: its compiler's process
group is killed and its result is never delivered. A global semaphore bounds
how many compilers run at the same time. Results are remembered in memory and,
where ``compiler.persistentCache`` allows, on disk across restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
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
from codon_lsp.result_store import ResultStore
from codon_lsp.sandbox import SandboxError, wait_cancellable

log = structlog.get_logger("codon")


class Superseded(Exception):
    """A newer check of the same file replaced this one."""


@dataclass
class _Running:
    """The check of a file in flight: its task, what it checks, who awaits it."""

    task: asyncio.Task[CheckResult]
    key: str
    waiters: int = 0


class CheckScheduler:
    """Runs checks for the server; ``check`` returns a result or raises Superseded."""

    def __init__(
        self,
        max_concurrent: int,
        cache: ResultCache | None = None,
        on_started: Callable[[Check], None] | None = None,
        store: ResultStore | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._running: dict[Path, _Running] = {}
        self._generations: dict[Path, int] = {}
        self.cache = cache if cache is not None else ResultCache()
        self._on_started = on_started
        self.store = store
        self._saving: set[asyncio.Future[None]] = set()

    def resize(self, max_concurrent: int) -> None:
        """Change the global limit; checks already waiting keep their place."""
        if max_concurrent != self._max_concurrent:
            self._slots = asyncio.Semaphore(max_concurrent)
            self._max_concurrent = max_concurrent

    @property
    def running(self) -> int:
        return sum(1 for item in self._running.values() if not item.task.done())

    async def check(self, request: CheckRequest) -> CheckResult:
        """Check a file, superseding any check of it still running.

        A request for the very content already being compiled (a second save,
        a buffer check of what was just saved) shares that compile instead of
        restarting it; either way only the newest request gets the result.
        If the caller is cancelled, so is its compile, unless others share it.
        """
        path = request.path.resolve()
        generation = self._next_generation(path)
        check = await asyncio.to_thread(Check, request)
        if self._generations.get(path) != generation:
            raise Superseded(str(path))
        cached = self.cache.get(check.key)
        store = self._store_for(request)
        if cached is None and store is not None:
            cached = await asyncio.to_thread(store.load, check.key)
            if self._generations.get(path) != generation:
                raise Superseded(str(path))
            if cached is not None:
                log.debug("check.stored", path=str(path))
                self.cache.put(check.key, cached)
        if cached is not None:
            self._cancel_task(path)
            return cached

        running = self._running.get(path)
        if running is None or running.task.done() or running.key != check.key:
            self._cancel_task(path)
            task = asyncio.get_running_loop().create_task(self._run(check))
            running = self._running[path] = _Running(task=task, key=check.key)
        else:
            log.debug("check.shared", path=str(path))
        return await self._await(path, running, generation)

    async def _await(
        self, path: Path, running: _Running, generation: int
    ) -> CheckResult:
        running.waiters += 1
        try:
            await asyncio.wait({running.task})
        except asyncio.CancelledError:
            if running.waiters == 1:
                running.task.cancel()
            raise
        finally:
            running.waiters -= 1
            current = self._running.get(path)
            if current is running and running.task.done():
                del self._running[path]
        if running.task.cancelled() or self._generations.get(path) != generation:
            # Only the newest request delivers, even when it shared the compile.
            raise Superseded(str(path))
        return running.task.result()

    def _next_generation(self, path: Path) -> int:
        generation = self._generations.get(path, 0) + 1
        self._generations[path] = generation
        return generation

    def cancel(self, path: Path) -> bool:
        """Cancel the running (or starting) check of ``path``; True if one ran."""
        path = path.resolve()
        self._next_generation(path)
        return self._cancel_task(path)

    def _cancel_task(self, path: Path) -> bool:
        running = self._running.get(path)
        if running is None or running.task.done():
            return False
        running.task.cancel()
        return True

    async def _run(self, check: Check) -> CheckResult:
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
        try:
            outcome = await wait_cancellable(process)
        except asyncio.CancelledError:
            check.cleanup()
            log.info("compile.superseded", path=str(check.target))
            raise
        result = await asyncio.to_thread(check.finish, outcome)
        if result.record.outcome in ("ok", "error"):
            self.cache.put(check.key, as_cached(result))
            store = self._store_for(check.request)
            if store is not None:
                self._save_later(store, check.key, as_cached(result))
        return result

    def _store_for(self, request: CheckRequest) -> ResultStore | None:
        return self.store if request.compiler.persistent_cache else None

    def _save_later(self, store: ResultStore, key: str, result: CheckResult) -> None:
        """Write to disk off the path of delivery; ``shutdown`` waits for it."""
        saving = asyncio.get_running_loop().run_in_executor(
            None, store.save, key, result
        )
        self._saving.add(saving)
        saving.add_done_callback(self._saving.discard)

    async def shutdown(self) -> None:
        """Cancel every running check and wait until their compilers are gone."""
        tasks = [item.task for item in self._running.values() if not item.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*self._saving, return_exceptions=True)
        if self.store is not None:
            self.store.close()
