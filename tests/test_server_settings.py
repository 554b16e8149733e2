"""Settings through workspace/configuration, per folder, and what trust allows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_lsp
from conftest import SERVER_COMMAND, codon_binary, initialize_params
from lsp_support import make_recording_client, next_publication, open_document
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient


def with_configuration(params: types.InitializeParams) -> types.InitializeParams:
    params.capabilities.workspace = types.WorkspaceClientCapabilities(
        configuration=True
    )
    return params


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def configured(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    (tmp_path / "slow").mkdir()
    (tmp_path / "fast").mkdir()
    lsp_client.set_configuration(
        {"compiler": {"path": str(codon_binary())}}, section="codon"
    )
    lsp_client.set_configuration(
        {"compiler": {"timeoutSeconds": 0.2}},
        section="codon",
        scope_uri=(tmp_path / "slow").as_uri(),
    )
    await lsp_client.initialize_session(with_configuration(initialize_params(tmp_path)))
    yield
    await lsp_client.shutdown_session()


async def test_folder_settings_apply_to_their_folder_only(
    configured: LanguageClient, tmp_path: Path
) -> None:
    slow = tmp_path / "slow" / "main.py"
    fast = tmp_path / "fast" / "main.py"
    for program in (slow, fast):
        program.write_text("print(1)\n")
        open_document(configured, program)

    [timed_out] = (await next_publication(configured, slow, 0)).diagnostics
    assert timed_out.message.startswith("Codon did not finish within 0.2 s")
    assert list((await next_publication(configured, fast, 0)).diagnostics) == []


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def untrusted(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    # The workspace tries to run another "compiler"; the user's own setting
    # (initializationOptions) names the real one.
    lsp_client.set_configuration(
        {"compiler": {"path": str(tmp_path / "evil-codon")}}, section="codon"
    )
    params = with_configuration(initialize_params(tmp_path, trusted=False))
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_an_untrusted_workspace_cannot_choose_the_compiler(
    untrusted: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text('x = 1 + "a"\n')
    open_document(untrusted, program)
    [diagnostic] = (await next_publication(untrusted, program, 0)).diagnostics
    assert diagnostic.source == "codon"
    assert "unsupported operand" in diagnostic.message
    assert not any("evil-codon" in m.message for m in untrusted.messages)

    refused = await untrusted.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codon.run", arguments=[program.as_uri()])
    )
    assert "trust" in str(refused).lower()
