"""Quick fixes over real LSP: offered on Codon's errors, applied, compiled again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_lsp
from conftest import SERVER_COMMAND, initialize_params
from lsp_support import (
    make_recording_client,
    next_publication,
    open_document,
    publications_for,
    save_document,
)
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

DATA = Path(__file__).parent / "data" / "fallbacks"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def client(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(initialize_params(tmp_path))
    yield
    await lsp_client.shutdown_session()


async def _errors_after_open(
    client: LanguageClient, path: Path
) -> list[types.Diagnostic]:
    open_document(client, path)
    published = await next_publication(client, path, 0)
    return [
        d for d in published.diagnostics if d.severity == types.DiagnosticSeverity.Error
    ]


async def _actions(
    client: LanguageClient, path: Path, errors: list[types.Diagnostic]
) -> list[types.CodeAction]:
    answer = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
            range=errors[0].range,
            context=types.CodeActionContext(diagnostics=errors),
        )
    )
    # A code action that carries only a command may be read back as a Command.
    return [
        item
        if isinstance(item, types.CodeAction)
        else types.CodeAction(title=item.title, command=item)
        for item in answer or []
    ]


def _apply(text: str, edit: types.WorkspaceEdit) -> str:
    """Apply a one-document workspace edit (non-overlapping, in any order)."""
    assert edit.document_changes is not None
    [change] = edit.document_changes
    assert isinstance(change, types.TextDocumentEdit)
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(position: types.Position) -> int:
        return offsets[min(position.line, len(lines))] + position.character

    ordered = sorted(change.edits, key=lambda e: at(e.range.start), reverse=True)
    for text_edit in ordered:
        start, end = at(text_edit.range.start), at(text_edit.range.end)
        text = text[:start] + text_edit.new_text + text[end:]
    return text


async def _fix_and_save(
    client: LanguageClient, path: Path, title: str
) -> list[types.Diagnostic]:
    """Resolve the action called ``title``, apply and save it; return the new errors."""
    errors = await _errors_after_open(client, path)
    assert errors
    actions = await _actions(client, path, errors)
    chosen = next(action for action in actions if action.title == title)
    resolved = await client.code_action_resolve_async(chosen)
    assert resolved.edit is not None
    [change] = resolved.edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.version == 1

    seen = len(publications_for(client, path))
    save_document(client, path, _apply(path.read_text(), resolved.edit), version=2)
    published = await next_publication(client, path, seen)
    return [
        d for d in published.diagnostics if d.severity == types.DiagnosticSeverity.Error
    ]


async def test_import_socket_fix_makes_the_file_compile(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "sock.py"
    path.write_text((DATA / "import_socket.py").read_text())

    errors = await _fix_and_save(client, path, "Import `socket` from CPython")

    assert errors == []
    assert path.read_text().startswith("from python import socket\n")


async def test_eval_function_gets_python_decorator(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "ev.py"
    path.write_text((DATA / "eval_in_function.py").read_text())

    errors = await _fix_and_save(client, path, "Run `f` in CPython (add @python)")

    assert errors == []
    assert path.read_text().startswith("@python\ndef f():\n")


async def test_every_error_offers_run_with_cpython_and_the_directive(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "sock.py"
    path.write_text((DATA / "import_socket.py").read_text())
    errors = await _errors_after_open(client, path)

    actions = await _actions(client, path, errors)

    titles = [action.title for action in actions]
    assert titles == [
        "Import `socket` from CPython",
        "Import unresolved modules from CPython in this file",
        "Run this file with CPython",
    ]
    assert actions[0].is_preferred
    command = actions[-1].command
    assert command is not None
    # pygls's client reads this CodeAction back as a Command holding the action.
    assert "'command': 'codon.runWithCPython'" in command.command
    assert path.as_uri() in command.command


async def test_a_stale_action_gets_no_edit(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "sock.py"
    path.write_text((DATA / "import_socket.py").read_text())
    errors = await _errors_after_open(client, path)
    actions = await _actions(client, path, errors)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=path.as_uri(), version=2
            ),
            content_changes=[
                types.TextDocumentContentChangeWholeDocument(
                    text="# edited\n" + path.read_text()
                )
            ],
        )
    )

    resolved = await client.code_action_resolve_async(actions[0])

    assert resolved.edit is None


async def test_method_is_offered_only_the_cpython_run(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "method.py"
    path.write_text((DATA / "eval_in_method.py").read_text())
    errors = await _errors_after_open(client, path)

    actions = await _actions(client, path, errors)

    assert [action.title for action in actions] == ["Run this file with CPython"]


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def plain_client(
    lsp_client: LanguageClient, tmp_path: Path
) -> AsyncIterator[None]:
    """A client that cannot resolve code actions (no ``resolveSupport``)."""
    params = initialize_params(tmp_path)
    assert params.capabilities.text_document is not None
    params.capabilities.text_document.code_action = None
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_a_client_without_resolve_gets_the_edit_with_the_action(
    plain_client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "sock.py"
    path.write_text((DATA / "import_socket.py").read_text())
    errors = await _errors_after_open(plain_client, path)
    actions = await _actions(plain_client, path, errors)
    [fix] = [a for a in actions if a.title == "Import `socket` from CPython"]
    assert fix.edit is not None
    assert _apply(path.read_text(), fix.edit).startswith("from python import socket\n")


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def untrusted(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    params = initialize_params(tmp_path, trusted=False)
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_an_untrusted_workspace_gets_edits_but_no_run(
    untrusted: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "net.py"
    path.write_text((DATA / "import_socket.py").read_text())
    errors = await _errors_after_open(untrusted, path)

    actions = await _actions(untrusted, path, errors)

    titles = [action.title for action in actions]
    assert "Import `socket` from CPython" in titles
    assert "Run this file with CPython" not in titles
