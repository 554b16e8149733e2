"""A codon-lsp server driven over stdio by pygls's own LSP client, for measuring.

The session keeps every diagnostics publication with the time it arrived, and
reads the server's log lines from its stderr (console key=value lines or JSON
lines, whichever the server writes) so that compiles can be counted by event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

DEADLINE_S = 120.0
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FIELD = re.compile(r"(\w+)=('[^']*'|\"[^\"]*\"|\S+)")
_EVENT = re.compile(r"\[\s*\w+\s*\]\s+(\S+)")


@dataclass(frozen=True)
class LogEvent:
    """One log line of the server: its event name, fields and arrival time."""

    name: str
    fields: dict[str, str]
    at: float


@dataclass(frozen=True)
class Publication:
    """One ``textDocument/publishDiagnostics`` as received."""

    uri: str
    version: int | None
    diagnostics: list[types.Diagnostic]
    at: float


def parse_log_line(line: str) -> LogEvent | None:
    """A server log line (JSON or structlog console format) as an event."""
    now = time.monotonic()
    line = _ANSI.sub("", line).strip()
    if not line:
        return None
    if line.startswith("{"):
        with contextlib.suppress(ValueError):
            data = json.loads(line)
            if isinstance(data, dict) and "event" in data:
                fields = {key: str(value) for key, value in data.items()}
                return LogEvent(str(data["event"]), fields, now)
    match = _EVENT.search(line)
    if match is None:
        return None
    fields = {key: value.strip("'\"") for key, value in _FIELD.findall(line)}
    return LogEvent(match.group(1), fields, now)


@dataclass
class ServerSession:
    """A running server, its client, and what it has said so far."""

    client: LanguageClient
    pid: int
    publications: list[Publication] = field(default_factory=list)
    events: list[LogEvent] = field(default_factory=list)
    _versions: dict[str, int] = field(default_factory=dict)

    def count(self, event: str) -> int:
        return sum(1 for item in self.events if item.name == event)

    def publications_for(self, path: Path) -> list[Publication]:
        uri = path.as_uri()
        return [p for p in self.publications if p.uri == uri]

    async def wait_for(self, condition: Any, what: str) -> None:
        """Poll ``condition`` until it holds (bounded by a generous deadline)."""
        end = time.monotonic() + DEADLINE_S
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(f"timed out waiting for {what}")
            # Arrival times are stamped by the handlers, not by this poll: a slow
            # poll keeps the client from taking CPU from the compiler it times.
            await asyncio.sleep(0.05)

    def open(self, path: Path) -> None:
        self._versions[path.as_uri()] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=path.as_uri(),
                    language_id="python",
                    version=1,
                    text=path.read_text(),
                )
            )
        )

    def change(self, path: Path, text: str) -> int:
        """Send the whole new buffer text; returns the document's new version."""
        uri = path.as_uri()
        version = self._versions[uri] + 1
        self._versions[uri] = version
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=version
                ),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(text=text)
                ],
            )
        )
        return version

    def save(self, path: Path) -> float:
        """Send didSave; returns the monotonic time it was sent."""
        sent = time.monotonic()
        self.client.text_document_did_save(
            types.DidSaveTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=path.as_uri())
            )
        )
        return sent

    def edit_and_save(self, path: Path, text: str) -> tuple[int, float]:
        """Write ``text`` to disk as an editor would, then tell the server."""
        path.write_text(text)
        version = self.change(path, text)
        return version, self.save(path)

    async def publication_of(
        self, path: Path, version: int, after: float
    ) -> Publication:
        """The first publication of ``version`` of ``path`` arriving after ``after``."""
        uri = path.as_uri()

        def found() -> Publication | None:
            for item in self.publications:
                if item.uri == uri and item.version == version and item.at >= after:
                    return item
            return None

        await self.wait_for(lambda: found() is not None, f"{path.name} v{version}")
        publication = found()
        assert publication is not None
        return publication

    async def settle(self) -> None:
        """Wait until every compile the server started has finished or been killed."""
        await self.wait_for(
            lambda: (
                self.count("compile.started")
                <= self.count("compile.finished") + self.count("compile.superseded")
            ),
            "running compiles to end",
        )


def _capabilities() -> types.ClientCapabilities:
    # What a real editor announces: UTF-16, progress, versioned diagnostics.
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                version_support=True, related_information=True
            )
        ),
    )


def _register(client: LanguageClient, session_box: list[ServerSession]) -> None:
    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)  # type: ignore[untyped-decorator]
    def publish(params: types.PublishDiagnosticsParams) -> None:
        session_box[0].publications.append(
            Publication(
                params.uri, params.version, list(params.diagnostics), time.monotonic()
            )
        )

    @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)  # type: ignore[untyped-decorator]
    def create_progress(params: types.WorkDoneProgressCreateParams) -> None:
        return None

    for method in (
        types.PROGRESS,
        types.WINDOW_SHOW_MESSAGE,
        types.WINDOW_LOG_MESSAGE,
        "codon/status",
    ):
        client.feature(method)(lambda params: None)


async def _read_stderr(stream: asyncio.StreamReader, session: ServerSession) -> None:
    while line := await stream.readline():
        event = parse_log_line(line.decode("utf-8", errors="replace"))
        if event is not None:
            session.events.append(event)


@contextlib.asynccontextmanager
async def server_session(
    workspace: Path, settings: dict[str, Any], source_root: Path
) -> Any:
    """Start ``python -m codon_lsp`` on stdio, initialize it, yield, shut it down."""
    client = LanguageClient("codon-lsp-bench", "1")
    box: list[ServerSession] = []
    _register(client, box)
    env = dict(os.environ)
    env["PYTHONPATH"] = str(source_root)
    await client.start_io(sys.executable, "-m", "codon_lsp", env=env)
    process = client._server  # the asyncio subprocess pygls started
    assert process is not None and process.stderr is not None
    session = ServerSession(client=client, pid=process.pid)
    box.append(session)
    reader = asyncio.create_task(_read_stderr(process.stderr, session))
    await client.initialize_async(
        types.InitializeParams(
            capabilities=_capabilities(),
            root_uri=workspace.as_uri(),
            workspace_folders=[
                types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)
            ],
            initialization_options={"trusted": True, "settings": settings},
        )
    )
    client.initialized(types.InitializedParams())
    try:
        yield session
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_async(None), 30)
            client.exit(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.kill()
            await process.wait()
        await client.stop()  # type: ignore[no-untyped-call]
        reader.cancel()
