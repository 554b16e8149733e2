"""Work-done progress for checks, builds and runs, where the client supports it.

The job starts at once; the progress begins as soon as the client has accepted
the token, and reports made before that are sent right after the begin. A
client without progress support gets silence, never an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer


class WorkDone:
    """One progress: report steps, and hear about the user's cancel button."""

    def __init__(self, server: LanguageServer, title: str, cancellable: bool) -> None:
        self._server = server
        self._title = title
        self._cancellable = cancellable
        self._token = str(uuid.uuid4())
        self._begun = False
        self._finished = False
        self._pending: list[types.WorkDoneProgressReport] = []
        self._cancel_callbacks: list[Callable[[], None]] = []
        self._loop = asyncio.get_running_loop()

    def report(self, message: str, percentage: int | None = None) -> None:
        """Show a step; kept until the progress has begun."""
        value = types.WorkDoneProgressReport(
            message=message,
            percentage=percentage,
            cancellable=self._cancellable or None,
        )
        if self._begun:
            self._server.work_done_progress.report(self._token, value)
        elif not self._finished:
            self._pending.append(value)

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the event loop) when the user cancels."""
        self._cancel_callbacks.append(callback)
        if self._begun:
            self._listen(callback)

    def _listen(self, callback: Callable[[], None]) -> None:
        future = self._server.work_done_progress.tokens.get(self._token)
        if future is None:
            return
        future.add_done_callback(
            lambda done: (
                self._loop.call_soon_threadsafe(callback) if done.cancelled() else None
            )
        )

    def start(self) -> None:
        """Ask the client for the token; begin when it agrees."""
        created = asyncio.ensure_future(
            self._server.work_done_progress.create_async(self._token)
        )
        created.add_done_callback(self._created)

    def _created(self, created: asyncio.Future[Any]) -> None:
        if created.cancelled() or created.exception() is not None or self._finished:
            return
        progress = self._server.work_done_progress
        progress.begin(
            self._token,
            types.WorkDoneProgressBegin(
                title="Codon", message=self._title, cancellable=self._cancellable
            ),
        )
        self._begun = True
        for value in self._pending:
            progress.report(self._token, value)
        self._pending.clear()
        for callback in self._cancel_callbacks:
            self._listen(callback)

    def finish(self) -> None:
        self._finished = True
        if self._begun:
            self._server.work_done_progress.end(
                self._token, types.WorkDoneProgressEnd()
            )


def client_supports_progress(server: LanguageServer) -> bool:
    window = server.client_capabilities.window
    return bool(window and window.work_done_progress)


@contextlib.asynccontextmanager
async def work_done(
    server: LanguageServer, title: str, *, cancellable: bool = False
) -> AsyncIterator[WorkDone]:
    """A progress around a block; silent when the client does not support it."""
    progress = WorkDone(server, title, cancellable)
    if client_supports_progress(server):
        progress.start()
    try:
        yield progress
    finally:
        progress.finish()
