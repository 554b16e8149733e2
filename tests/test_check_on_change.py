"""``checkOn: change``: unsaved buffers are checked through the compiler's stdin.

The real server and the real compiler, with a short debounce so the tests stay
quick. Compiles are counted by the server's ``codon/status`` "checking" events.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_lsp
from conftest import SERVER_COMMAND, initialize_params
from lsp_support import make_recording_client, publications_for, wait_until
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_cache import compiles_started

CLEAN = "x = 1\nprint(x)\n"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def client(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    """A server that checks buffers 100 ms after typing stops."""
    settings = {"checkOn": "change", "debounceMs": 100}
    await lsp_client.initialize_session(initialize_params(tmp_path, settings))
    yield
    await lsp_client.shutdown_session()


def open_text(client: LanguageClient, path: Path, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=path.as_uri(), language_id="python", version=1, text=text
            )
        )
    )


def type_text(client: LanguageClient, path: Path, text: str, version: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=path.as_uri(), version=version
            ),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def publication_of(
    client: LanguageClient, path: Path, version: int
) -> types.PublishDiagnosticsParams:
    def found() -> list[types.PublishDiagnosticsParams]:
        return [p for p in publications_for(client, path) if p.version == version]

    await wait_until(lambda: bool(found()), f"{path.name} version {version}")
    return found()[0]


async def opened(client: LanguageClient, path: Path, text: str) -> None:
    path.write_text(text)
    open_text(client, path, text)
    await publication_of(client, path, 1)


async def test_an_unsaved_error_is_shown_on_the_buffer(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    await opened(client, program, CLEAN)

    type_text(client, program, 'x = 1\ny = x + "a"\n', version=2)
    published = await publication_of(client, program, 2)

    [diagnostic] = published.diagnostics
    assert "unsupported operand type(s) for +" in diagnostic.message
    assert diagnostic.range.start == types.Position(line=1, character=4)
    assert diagnostic.range.end == types.Position(line=1, character=11)
    assert program.read_text() == CLEAN


async def test_a_burst_of_typing_checks_only_the_last_buffer(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    await opened(client, program, CLEAN)
    before = compiles_started(client)

    for version in range(2, 8):
        type_text(client, program, f"x = {version}\ny = x + 'v'\n", version)
    type_text(client, program, "x = 8\nprint(undefined_name)\n", version=8)
    last = await publication_of(client, program, 8)

    assert [p.version for p in publications_for(client, program)[1:]] == [8]
    [diagnostic] = last.diagnostics
    assert "undefined_name" in diagnostic.message
    assert compiles_started(client) == before + 1


async def test_local_imports_resolve_from_the_files_folder(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "helpers.py").write_text(
        "def double(x: int) -> int:\n    return x * 2\n"
    )
    program = tmp_path / "main.py"
    await opened(client, program, CLEAN)

    type_text(client, program, "from helpers import double\n\nprint(double('a'))\n", 2)
    [diagnostic] = (await publication_of(client, program, 2)).diagnostics

    assert "does not match expected type 'int'" in diagnostic.message
    assert diagnostic.range.start.line == 2


async def test_the_buffers_frames_in_a_chain_name_the_file_not_stdin(
    client: LanguageClient, tmp_path: Path
) -> None:
    helpers = tmp_path / "helpers.py"
    helpers.write_text('def double(x: int) -> int:\n    return x * "two"\n')
    program = tmp_path / "main.py"
    await opened(client, program, CLEAN)

    type_text(client, program, "from helpers import double\n\nprint(double(2))\n", 2)
    [on_main] = (await publication_of(client, program, 2)).diagnostics
    await wait_until(lambda: bool(publications_for(client, helpers)), "helpers.py")
    [on_helpers] = publications_for(client, helpers)[-1].diagnostics

    assert on_main.range.start.line == 2
    assert on_main.message.startswith("helpers.py: ")
    messages = [info.message for info in on_helpers.related_information or []]
    assert messages == ["main.py:3: during the realization of double(x: int)"]


async def test_saving_a_buffer_already_checked_starts_no_compiler(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    await opened(client, program, CLEAN)
    text = 'x = 1\ny = x + "b"\n'
    type_text(client, program, text, version=2)
    checked = await publication_of(client, program, 2)
    before = compiles_started(client)

    program.write_text(text)
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=program.as_uri())
        )
    )
    await wait_until(
        lambda: len(publications_for(client, program)) > 2, "the save's diagnostics"
    )

    saved = publications_for(client, program)[-1]
    assert saved.diagnostics == checked.diagnostics
    assert compiles_started(client) == before
