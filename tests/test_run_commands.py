"""codon.run and codon.runWithCPython over real LSP, with real Codon and CPython."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_lsp
from conftest import SERVER_COMMAND, initialize_params
from lsp_support import make_recording_client, publications_for, wait_until
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

RUNTIME = Path(__file__).parent / "data" / "fallbacks" / "runtime"
DATA = Path(__file__).parent / "data" / "fallbacks"


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND, client_factory=make_recording_client
    )
)
async def client(lsp_client: LanguageClient, tmp_path: Path) -> AsyncIterator[None]:
    settings = {
        "limits": {"timeoutSeconds": 6},
        "python": {"interpreter": sys.executable},
    }
    await lsp_client.initialize_session(initialize_params(tmp_path, settings))
    yield
    await lsp_client.shutdown_session()


async def _run(client: LanguageClient, command: str, path: Path) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[path.as_uri()])
    )


def _logged(client: LanguageClient) -> list[str]:
    return [message.message for message in client.log_messages]


def _field(answer: Any, name: str) -> Any:
    return answer[name] if isinstance(answer, dict) else getattr(answer, name)


async def test_index_error_becomes_a_diagnostic_and_the_run_ends(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "index_error.py"
    path.write_text((RUNTIME / "index_error.py").read_text())

    answer = await _run(client, "codon.run", path)

    assert _field(answer, "status") == "failed"
    assert _field(answer, "signal") == "SIGABRT"
    assert "[index_error.py] before" in _logged(client)
    await wait_until(
        lambda: any(
            d.source == "codon run"
            for p in publications_for(client, path)
            for d in p.diagnostics
        ),
        "the run diagnostic",
    )
    run_diagnostics = [
        d
        for d in publications_for(client, path)[-1].diagnostics
        if d.source == "codon run"
    ]
    assert [(d.range.start.line, d.message) for d in run_diagnostics] == [
        (1, "IndexError: list index out of range")
    ]
    assert [m.message for m in client.messages][-1] == (
        "index_error.py stopped by an uncaught IndexError (exit status 134):"
        " list index out of range"
    )


async def test_a_program_that_loops_forever_is_killed_and_says_so(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "forever.py"
    path.write_text((RUNTIME / "forever.py").read_text())

    answer = await _run(client, "codon.run", path)

    assert _field(answer, "status") == "timeout"
    assert _field(answer, "timedOut") is True
    assert any(
        "killed after the time limit of 6 s" in message.message
        for message in client.messages
    )


async def test_eval_fixed_with_python_decorator_runs_and_prints_five(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "ev.py"
    path.write_text("@python\n" + (DATA / "eval_in_function.py").read_text())

    answer = await _run(client, "codon.run", path)

    assert _field(answer, "status") == "ok"
    assert "[ev.py] 5" in _logged(client)


async def test_run_with_cpython_streams_output_and_exit_status(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "plain.py"
    path.write_text("import sys\nprint(eval('2+3'))\nsys.exit(3)\n")

    answer = await _run(client, "codon.runWithCPython", path)

    assert _field(answer, "exitCode") == 3
    assert _field(answer, "engine") == "python"
    logged = _logged(client)
    assert "[plain.py] 5" in logged
    assert "codon-lsp: plain.py exited with status 3" in logged


async def test_a_run_that_does_not_compile_says_why(
    client: LanguageClient, tmp_path: Path
) -> None:
    path = tmp_path / "broken.py"
    path.write_text('print(1 + "a")\n')

    answer = await _run(client, "codon.run", path)

    assert _field(answer, "status") == "failed"
    assert _field(answer, "exitCode") == 1
    shown = [m for m in client.messages if m.type == types.MessageType.Error]
    assert [m.message for m in shown] == [
        "broken.py did not compile: unsupported operand type(s) for +: '1' and ''a''"
    ]
