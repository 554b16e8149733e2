"""The server through a real LSP client, with the real Codon compiler."""

from __future__ import annotations

from pathlib import Path

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
FIXED = "x = 1\ny = x + 2\nprint(y)\n"


async def test_open_shows_the_error_then_a_fix_clears_it(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text(BROKEN)

    open_document(client, program, version=1)
    published = await next_publication(client, program, 0)

    assert published.version == 1
    [diagnostic] = published.diagnostics
    assert diagnostic.source == "codon"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert "unsupported operand type(s) for +" in diagnostic.message
    assert diagnostic.range.start == types.Position(line=1, character=4)
    assert diagnostic.range.end == types.Position(line=1, character=11)

    save_document(client, program, FIXED, version=2)
    cleared = await next_publication(client, program, 1)
    assert cleared.version == 2
    assert list(cleared.diagnostics) == []


async def test_closing_a_file_clears_its_diagnostics(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text(BROKEN)
    open_document(client, program)
    assert (await next_publication(client, program, 0)).diagnostics

    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=program.as_uri())
        )
    )
    assert list((await next_publication(client, program, 1)).diagnostics) == []


async def test_a_burst_of_saves_publishes_only_the_last_content(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "burst.py"
    program.write_text(FIXED)
    open_document(client, program)
    await next_publication(client, program, 0)

    for version in range(2, 7):
        save_document(
            client,
            program,
            f"x = 1\ny = x + {version}\nz = y + 'v{version}'\n",
            version,
        )
    last = "x = 1\ny = x + 7\nprint(undefined_name)\n"
    save_document(client, program, last, 7)

    await wait_until(
        lambda: any(p.version == 7 for p in publications_for(client, program)),
        "the last save's diagnostics",
    )
    after_first = publications_for(client, program)[1:]
    assert [p.version for p in after_first] == [7]
    [diagnostic] = after_first[0].diagnostics
    assert "undefined_name" in diagnostic.message


async def test_an_error_in_an_imported_module_is_shown_on_it_and_cleared(
    client: LanguageClient, tmp_path: Path
) -> None:
    helpers = tmp_path / "helpers.py"
    helpers.write_text('def double(x: int) -> int:\n    return x * "two"\n')
    program = tmp_path / "main.py"
    program.write_text("from helpers import double\n\nprint(double(2))\n")

    open_document(client, program)

    def published_on_both(count: int) -> bool:
        return (
            min(
                len(publications_for(client, helpers)),
                len(publications_for(client, program)),
            )
            >= count
        )

    await wait_until(lambda: published_on_both(1), "diagnostics on both files")
    [on_helpers] = publications_for(client, helpers)[0].diagnostics
    assert on_helpers.range.start.line == 1
    assert "unsupported operand type(s) for *" in on_helpers.message
    [on_main] = publications_for(client, program)[0].diagnostics
    assert on_main.range.start.line == 2
    assert on_main.message.startswith("helpers.py: ")

    helpers.write_text("def double(x: int) -> int:\n    return x * 2\n")
    save_document(client, program, program.read_text(), 2)
    await wait_until(lambda: published_on_both(2), "both files published again")
    assert list(publications_for(client, helpers)[-1].diagnostics) == []
    assert list(publications_for(client, program)[-1].diagnostics) == []


async def test_a_stdlib_error_lands_on_the_users_call_with_the_chain(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "points.py"
    program.write_text(
        "class Point:\n    def __init__(self, x: int):\n        self.x = x\n\n\n"
        "points = [Point(2), Point(1)]\nordered = sorted(points)\n"
    )
    open_document(client, program)
    [diagnostic] = (await next_publication(client, program, 0)).diagnostics

    assert diagnostic.range.start == types.Position(line=6, character=10)
    assert diagnostic.message.startswith("unsupported operand type(s) for <")
    related = diagnostic.related_information or []
    related_files = [Path(info.location.uri).name for info in related]
    assert "insertionsort.codon" in related_files
    assert "pdqsort.codon" in related_files
    assert all(info.location.uri.startswith("file://") for info in related)


async def test_non_ascii_columns_in_utf16(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "emoji.py"
    program.write_text('s = "😀é中"; y = s + 1\n')
    open_document(client, program)
    [diagnostic] = (await next_publication(client, program, 0)).diagnostics
    # s = " (5) + 😀 (2 UTF-16 units) + é (1) + 中 (1) + "; y =  (7)
    assert diagnostic.range.start == types.Position(line=0, character=16)
    assert diagnostic.range.end == types.Position(line=0, character=21)


async def test_work_done_progress_wraps_a_check(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text(FIXED)
    open_document(client, program)
    await next_publication(client, program, 0)
    await wait_until(
        lambda: any(
            any(isinstance(v, types.WorkDoneProgressEnd) for v in values)
            for values in client.progress_reports.values()
        ),
        "a finished progress",
    )
    [values] = list(client.progress_reports.values())
    assert isinstance(values[0], types.WorkDoneProgressBegin)
    assert values[0].message == "Checking main.py"


async def test_status_notifications_name_the_codon_version(
    client: LanguageClient, tmp_path: Path
) -> None:
    program = tmp_path / "main.py"
    program.write_text(FIXED)
    open_document(client, program)
    await wait_until(
        lambda: any(s["state"] == "idle" for s in client.statuses),  # type: ignore[attr-defined]
        "an idle status",
    )
    idle = [s for s in client.statuses if s["state"] == "idle"][-1]  # type: ignore[attr-defined]
    assert idle["codonVersion"] == "0.19.3"
    assert idle["lastCheck"]["uri"] == program.as_uri()
    assert idle["lastCheck"]["outcome"] == "ok"
