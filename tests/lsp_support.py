"""Helpers for tests that drive the server through a real LSP client."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features
from pytest_lsp.protocol import LanguageClientProtocol

DEADLINE_S = 60.0


def make_recording_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every diagnostics publication and status."""
    client = LanguageClient(
        converter_factory=default_converter, protocol_cls=LanguageClientProtocol
    )
    client.publications = []  # type: ignore[attr-defined]
    client.statuses = []  # type: ignore[attr-defined]

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.publications.append(params)  # type: ignore[attr-defined]

    def status(client: LanguageClient, params: Any) -> None:
        client.statuses.append(as_plain(params))  # type: ignore[attr-defined]

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    features["codon/status"] = status
    register_lsp_features(client, features)
    return client


def as_plain(value: Any) -> Any:
    """pygls hands unknown notification params over as named tuples: make dicts."""
    if hasattr(value, "_asdict"):
        return {key: as_plain(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [as_plain(item) for item in value]
    return value


async def wait_until(
    condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` at the deadline."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def publications_for(
    client: LanguageClient, path: Path
) -> list[types.PublishDiagnosticsParams]:
    uri = path.as_uri()
    return [p for p in client.publications if p.uri == uri]  # type: ignore[attr-defined]


async def next_publication(
    client: LanguageClient, path: Path, after: int
) -> types.PublishDiagnosticsParams:
    """The first publication for ``path`` beyond the ``after`` already seen."""
    await wait_until(
        lambda: len(publications_for(client, path)) > after,
        f"diagnostics for {path.name}",
    )
    return publications_for(client, path)[after]


def open_document(client: LanguageClient, path: Path, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(),
                language_id="python",
                version=version,
                text=path.read_text(),
            )
        )
    )


def save_document(client: LanguageClient, path: Path, text: str, version: int) -> None:
    """Write ``text`` to disk, tell the server about the edit, then save."""
    path.write_text(text)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=path.as_uri(), version=version
            ),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri())
        )
    )
