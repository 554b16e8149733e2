"""A save seen end to end: JSON log line, Prometheus counter, event at the backend."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_lsp
from conftest import SERVER_COMMAND, initialize_params
from graphmemory_backend import GraphMemoryBackend
from lsp_support import (
    make_recording_client,
    next_publication,
    open_document,
    wait_until,
)
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SECRET = "s3cr3t-token-value"
# The outbox lives in the user's state folder (platformdirs honours XDG_STATE_HOME).
STATE_DIR = tempfile.mkdtemp(prefix="codon-lsp-test-state-")


@pytest.fixture(scope="module")
def backend() -> Iterator[GraphMemoryBackend]:
    server = GraphMemoryBackend().start()
    yield server
    server.stop()


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=SERVER_COMMAND,
        client_factory=make_recording_client,
        server_env={
            **os.environ,
            "CODON_LSP_GRAPHMEMORY_TOKEN": SECRET,
            "XDG_STATE_HOME": STATE_DIR,
        },
    )
)
async def observed_client(
    lsp_client: LanguageClient,
    tmp_path: Path,
    backend: GraphMemoryBackend,
) -> AsyncIterator[None]:
    params = initialize_params(
        tmp_path,
        settings={
            "logFile": str(tmp_path / "server.log.jsonl"),
            "telemetry": {"url": backend.url, "userId": "tester"},
        },
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def show_metrics(client: LanguageClient) -> str:
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="codon.showMetrics", arguments=[])
    )
    return json.dumps(result)


async def test_a_saved_file_is_logged_counted_and_reported(
    observed_client: LanguageClient, tmp_path: Path, backend: GraphMemoryBackend
) -> None:
    client = observed_client
    program = tmp_path / "main.py"
    program.write_text('x = 1\ny = x + "a"\n')
    open_document(client, program)
    await next_publication(client, program, 0)

    log_file = tmp_path / "server.log.jsonl"
    await wait_until(
        lambda: log_file.exists() and "compile.finished" in log_file.read_text(),
        "a compile.finished log line",
    )
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    [finished] = [e for e in events if e["event"] == "compile.finished"]
    assert finished["path"] == str(program.resolve())
    assert finished["kind"] == "check"
    assert finished["ok"] is False
    assert finished["errors"] == 1
    assert finished["codon_version"] == "0.19.3"
    assert finished["peak_memory_bytes"] > 10_000_000
    assert SECRET not in log_file.read_text()

    snapshot = await show_metrics(client)
    assert "codon_compilations_total" in snapshot

    await wait_until(
        lambda: any(r.get("path") == str(program.resolve()) for r in backend.records()),
        "the compile record at the backend",
    )
    [event] = [
        e for e in backend.stored() if str(program.resolve()) in json.dumps(e["data"])
    ]
    assert event["event_type"] == "error"
    assert event["user_id"] == "tester"
    [request] = [r for r in backend.requests if r.path == "/telemetry/ingest"][:1]
    assert request.authorization == f"Bearer {SECRET}"
