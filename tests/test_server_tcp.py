"""``codon-lsp --tcp HOST:PORT``: the same server over a loopback socket."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

from conftest import initialize_params
from lsp_support import wait_until
from lsprotocol import types
from pygls.lsp.client import LanguageClient


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def connect(port: int, deadline_s: float = 30.0) -> LanguageClient:
    client = LanguageClient("tcp-test", "1")
    for _ in range(int(deadline_s / 0.05)):
        try:
            await client.start_tcp("127.0.0.1", port)
            return client
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port}")


async def test_diagnostics_over_tcp(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "codon_lsp", "--tcp", f"127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL,
    )
    try:
        client = await connect(port)
        published: list[types.PublishDiagnosticsParams] = []

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def record(params: types.PublishDiagnosticsParams) -> None:
            published.append(params)

        await client.initialize_async(initialize_params(tmp_path))
        client.initialized(types.InitializedParams())

        program = tmp_path / "main.py"
        program.write_text("print(undefined_name)\n")
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=program.as_uri(), language_id="python", version=1, text=""
                )
            )
        )
        await wait_until(lambda: bool(published), "diagnostics over TCP")
        [diagnostic] = published[0].diagnostics
        assert "undefined_name" in diagnostic.message
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    finally:
        server.kill()
        server.wait()
