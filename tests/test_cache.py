"""The result cache: unchanged content is answered without a compiler, edits are not.

Checked through the real server and the real compiler; a compile is counted by
the ``codon/status`` notifications the server sends when a compiler starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codon_lsp.checker import CheckRequest, ResultCache, cache_key
from codon_lsp.project_files import collect_project_files
from codon_lsp.settings import CompilerSettings
from codon_lsp.toolchain import describe
from lsp_support import (
    next_publication,
    open_document,
    publications_for,
    save_document,
    wait_until,
)
from lsprotocol import types
from pytest_lsp import LanguageClient

BROKEN = 'x = 1\ny = x + "a"\n'


def compiles_started(client: LanguageClient) -> int:
    return sum(
        1
        for status in client.statuses  # type: ignore[attr-defined]
        if status["state"] == "checking"
    )


async def nth_last_check(client: LanguageClient, n: int) -> dict[str, Any]:
    """``lastCheck`` of the n-th idle status, once it has arrived.

    The server publishes a check's diagnostics before its idle status, so a
    publication in hand does not mean the status has been read yet.
    """

    def idle() -> list[dict[str, Any]]:
        return [
            status
            for status in client.statuses  # type: ignore[attr-defined]
            if status["state"] == "idle"
        ]

    await wait_until(lambda: len(idle()) >= n, f"idle status number {n}")
    last_check: dict[str, Any] = idle()[n - 1]["lastCheck"]
    return last_check


def resave(client: LanguageClient, path: Path) -> None:
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=path.as_uri())
        )
    )


async def test_an_unchanged_resave_is_answered_from_the_cache(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text(BROKEN)
    open_document(client, program)
    first = await next_publication(client, program, 0)
    assert compiles_started(client) == 1

    resave(client, program)
    second = await next_publication(client, program, 1)

    assert second.diagnostics == first.diagnostics
    assert compiles_started(client) == 1
    assert (await nth_last_check(client, 2))["cached"] is True


async def test_an_edit_to_an_imported_file_invalidates_the_cached_result(
    client: LanguageClient, tmp_path: Path
) -> None:
    helpers = tmp_path / "helpers.py"
    helpers.write_text("def double(x: int) -> int:\n    return x * 2\n")
    program = tmp_path / "main.py"
    program.write_text("from helpers import double\n\nprint(double(2))\n")
    open_document(client, program)
    assert list((await next_publication(client, program, 0)).diagnostics) == []

    helpers.write_text('def double(x: int) -> int:\n    return x * "two"\n')
    resave(client, program)
    await wait_until(
        lambda: bool(publications_for(client, helpers)), "diagnostics on helpers.py"
    )

    [on_helpers] = publications_for(client, helpers)[-1].diagnostics
    assert "unsupported operand type(s) for *" in on_helpers.message
    assert compiles_started(client) == 2


async def test_content_seen_before_is_answered_without_a_compiler(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text(BROKEN)
    open_document(client, program)
    broken = await next_publication(client, program, 0)
    save_document(client, program, "x = 1\nprint(x)\n", version=2)
    assert list((await next_publication(client, program, 1)).diagnostics) == []

    save_document(client, program, BROKEN, version=3)
    again = await next_publication(client, program, 2)

    assert again.version == 3
    assert again.diagnostics == broken.diagnostics
    assert compiles_started(client) == 2


def test_the_key_covers_flags_and_imports_but_not_how_the_source_arrives(
    codon: Path, tmp_path: Path
) -> None:
    helpers = tmp_path / "helpers.py"
    helpers.write_text("def one() -> int:\n    return 1\n")
    program = tmp_path / "main.py"
    program.write_text("from helpers import one\nprint(one())\n")
    toolchain = describe(codon)
    project = collect_project_files(program)
    source = program.read_bytes()

    def key(**changes: object) -> str:
        request = CheckRequest(
            path=program,
            toolchain=toolchain,
            compiler=CompilerSettings(**changes),  # type: ignore[arg-type]
        )
        return cache_key(request, project, source)

    from_disk = key()
    piped = cache_key(
        CheckRequest(
            path=program,
            toolchain=toolchain,
            compiler=CompilerSettings(),
            unsaved_source=source,
        ),
        project,
        source,
    )
    assert piped == from_disk
    assert key(defines={"N": "1"}) != from_disk
    assert key(extra_args=["-numerics=py"]) != from_disk
    helpers.write_text("def one() -> int:\n    return 2\n")
    assert key() != from_disk


def test_the_cache_drops_the_least_recently_used() -> None:
    cache = ResultCache(size=2)
    results = [object() for _ in range(3)]
    cache.put("a", results[0])  # type: ignore[arg-type]
    cache.put("b", results[1])  # type: ignore[arg-type]
    assert cache.get("a") is results[0]
    cache.put("c", results[2])  # type: ignore[arg-type]

    assert cache.get("b") is None
    assert cache.get("a") is results[0]
    assert cache.get("c") is results[2]
