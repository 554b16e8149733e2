"""``codon.buildRelease`` and ``codon.scanBinary`` through a real LSP client.

The server runs as its own process with the real Codon compiler; a cancelled
build is checked against the process table for compiler processes left behind.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_lsp
from conftest import SERVER_COMMAND, initialize_params
from lsp_support import make_recording_client, publications_for, wait_until
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

CONFIG = ClientServerConfig(
    server_command=SERVER_COMMAND,
    client_factory=make_recording_client,
)
PROGRAM = (
    "def triangle(n: int) -> int:\n    return n * (n + 1) // 2\nprint(triangle(36))\n"
)
BROKEN = 'count = 3\ncount = count + "x"\n'


@pytest_lsp.fixture(config=CONFIG)
async def client(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(initialize_params(tmp_path))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def untrusted(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    params = initialize_params(tmp_path, trusted=False)
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=CONFIG)
async def workspace_flags(
    lsp_client: LanguageClient, tmp_path: Path
) -> AsyncIterator[None]:
    """A trusted workspace whose own settings ask for a compiler plugin."""
    params = initialize_params(tmp_path)
    params.capabilities.workspace = types.WorkspaceClientCapabilities(
        configuration=True
    )
    lsp_client.set_configuration(
        {"build": {"extraArgs": ["-plugin=workspace_plugin"]}}, section="codon"
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def build(client: LanguageClient, source: Path) -> dict[str, Any]:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="codon.buildRelease", arguments=[source.as_uri()]
        )
    )
    assert isinstance(result, dict)
    return result


def build_progress(client: LanguageClient) -> list[Any]:
    """The progress values of the (one) build the client has seen."""
    for values in client.progress_reports.values():
        begin = values[0] if values else None
        if isinstance(begin, types.WorkDoneProgressBegin) and "Building" in (
            begin.message or ""
        ):
            return values
    return []


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (zombies have none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text.encode() in command_line:
            found.append(int(entry.name))
    return found


async def test_release_build_with_progress(
    client: LanguageClient, tmp_path: Path
) -> None:
    source = tmp_path / "triangle.py"
    source.write_text(PROGRAM)

    report = await build(client, source)

    artifact = tmp_path / "build" / "triangle"
    assert report["status"] == "passed"
    assert report["artifact"] == str(artifact)
    assert report["mode"] == "0755"
    ran = subprocess.run([str(artifact)], capture_output=True, text=True, check=True)
    assert ran.stdout == "666\n"

    values = build_progress(client)
    begin, *reports, end = values
    assert isinstance(begin, types.WorkDoneProgressBegin) and begin.cancellable
    assert isinstance(end, types.WorkDoneProgressEnd)
    steps = [value.message.split(":")[0] for value in reports]
    assert steps == ["validate", "build", "scan", "finish"]
    percentages = [value.percentage for value in reports]
    assert percentages == sorted(percentages)

    await wait_until(
        lambda: any(str(artifact) in m.message for m in client.messages), "the message"
    )
    assert any(report["sha256"] in entry.message for entry in client.log_messages)


async def test_cancelled_build_leaves_no_compiler_behind(
    client: LanguageClient, tmp_path: Path
) -> None:
    source = tmp_path / "slow.py"
    source.write_text(PROGRAM)

    running = asyncio.ensure_future(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="codon.buildRelease", arguments=[source.as_uri()]
            )
        )
    )
    await wait_until(lambda: bool(processes_mentioning(str(source))), "the compiler")
    await wait_until(lambda: len(build_progress(client)) >= 3, "the build step")
    [token] = [
        token
        for token, values in client.progress_reports.items()
        if values is build_progress(client)
    ]
    client.window_work_done_progress_cancel(
        types.WorkDoneProgressCancelParams(token=token)
    )

    report = await running
    assert isinstance(report, dict)
    assert report["status"] == "cancelled"
    await wait_until(
        lambda: not processes_mentioning(str(tmp_path)), "no compiler left"
    )
    assert list((tmp_path / "build").iterdir()) == []
    assert any("cancelled" in message.message for message in client.messages)


async def test_the_build_timeout_setting_stops_a_long_build(
    client: LanguageClient, tmp_path: Path
) -> None:
    # A release build here takes about two seconds, far beyond this limit.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"codon": {"build": {"timeoutSeconds": 0.3}}}
        )
    )
    source = tmp_path / "slow.py"
    source.write_text(PROGRAM)

    report = await build(client, source)

    assert report["status"] == "timed-out"
    assert report["detail"] == "the build ran longer than 0.3 s"
    await wait_until(
        lambda: not processes_mentioning(str(tmp_path)), "no compiler left"
    )


async def test_build_error_shows_as_diagnostics(
    client: LanguageClient, tmp_path: Path
) -> None:
    source = tmp_path / "broken.py"
    source.write_text(BROKEN)

    report = await build(client, source)

    assert report["status"] == "compile-error"
    await wait_until(
        lambda: any(p.diagnostics for p in publications_for(client, source)),
        "diagnostics",
    )
    published = [p for p in publications_for(client, source) if p.diagnostics][-1]
    [diagnostic] = published.diagnostics
    assert diagnostic.source == "codon"
    assert diagnostic.range.start == types.Position(line=1, character=8)
    assert "unsupported operand type(s) for +" in diagnostic.message


async def test_scan_binary_command(client: LanguageClient, tmp_path: Path) -> None:
    not_elf = tmp_path / "notes.txt"
    not_elf.write_text("plain text\n")

    scanned = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="codon.scanBinary",
            arguments=[Path(sys.executable).resolve().as_uri()],
        )
    )
    refused = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="codon.scanBinary", arguments=[not_elf.as_uri()]
        )
    )

    assert isinstance(scanned, dict) and isinstance(refused, dict)
    assert scanned["elfKind"] in ("executable", "pie-executable")
    assert refused["status"] == "refused"
    assert "is not an ELF file" in refused["detail"]


async def test_untrusted_workspace_refuses_to_build(
    untrusted: LanguageClient, tmp_path: Path
) -> None:
    source = tmp_path / "triangle.py"
    source.write_text(PROGRAM)

    report = await build(untrusted, source)

    assert report["status"] == "refused"
    assert "untrusted" in report["detail"]
    assert not (tmp_path / "build").exists()
    await wait_until(
        lambda: any("untrusted" in m.message for m in untrusted.messages), "the message"
    )


async def test_plugin_flag_from_workspace_settings_is_refused(
    workspace_flags: LanguageClient, tmp_path: Path
) -> None:
    source = tmp_path / "triangle.py"
    source.write_text(PROGRAM)

    report = await build(workspace_flags, source)

    assert report["status"] == "refused"
    assert "-plugin=workspace_plugin" in report["detail"]
    assert "only from user settings" in report["detail"]
    assert not processes_mentioning(str(source))
    assert not (tmp_path / "build" / "triangle").exists()
