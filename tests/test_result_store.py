"""Check results on disk: a restarted server answers unchanged files at once.

Two real servers in turn, sharing one cache folder, with the real compiler; a
compile is counted by the ``codon/status`` notifications sent when one starts.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from codon_lsp.checker import CheckRequest, run_check
from codon_lsp.result_store import RESULTS_FILE, ResultStore, decode, encode
from codon_lsp.settings import CompilerSettings
from codon_lsp.toolchain import describe
from conftest import SERVER_COMMAND, codon_binary, initialize_params
from lsp_support import make_recording_client, next_publication, open_document
from lsprotocol import converters, types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_cache import compiles_started, nth_last_check

HELPER = "def area(w: float, h: float) -> float:\n    return 'area ' + w * h\n"
MAIN = "from helper import area\n\nprint(area(2.0, 3.0))\n"
CHAIN = (
    "class Task:\n    def __init__(self, n: int):\n        self.n = n\n\n"
    "print(sorted([Task(2), Task(1)]))\n"
)


@asynccontextmanager
async def server(
    cache_home: Path, root: Path, settings: dict[str, object] | None = None
) -> AsyncIterator[LanguageClient]:
    """One server process whose user cache folder is ``cache_home``."""
    config = ClientServerConfig(
        server_command=SERVER_COMMAND,
        client_factory=make_recording_client,
        server_env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
    )
    client = await config.start()
    assert isinstance(client, LanguageClient)
    await client.initialize_session(initialize_params(root, settings))
    try:
        yield client
    finally:
        await client.shutdown_session()


def write_project(root: Path) -> tuple[Path, Path]:
    (root / "helper.py").write_text(HELPER)
    (root / "main.py").write_text(MAIN)
    return root / "main.py", root / "helper.py"


async def test_a_restarted_server_answers_unchanged_files_without_compiling(
    tmp_path: Path,
) -> None:
    main, helper = write_project(tmp_path)
    cache_home = tmp_path / "cache"

    async with server(cache_home, tmp_path) as first:
        open_document(first, main)
        cold = await next_publication(first, main, 0)
        assert compiles_started(first) == 1
        cold_helper = first.diagnostics[helper.as_uri()]

    stored = ResultStore(cache_home / "codon-lsp" / RESULTS_FILE)
    assert stored.entries() == 1
    stored.close()

    async with server(cache_home, tmp_path) as second:
        open_document(second, main)
        warm = await next_publication(second, main, 0)
        assert compiles_started(second) == 0
        assert (await nth_last_check(second, 1))["cached"] is True
        assert warm.diagnostics == cold.diagnostics
        assert second.diagnostics[helper.as_uri()] == cold_helper
        assert "unsupported operand type(s) for +" in cold_helper[0].message


async def test_an_edit_while_the_server_was_away_is_compiled(tmp_path: Path) -> None:
    main, helper = write_project(tmp_path)
    cache_home = tmp_path / "cache"
    async with server(cache_home, tmp_path) as first:
        open_document(first, main)
        await next_publication(first, main, 0)

    helper.write_text("def area(w: float, h: float) -> float:\n    return w * h\n")

    async with server(cache_home, tmp_path) as second:
        open_document(second, main)
        fixed = await next_publication(second, main, 0)
        assert compiles_started(second) == 1
        assert list(fixed.diagnostics) == []


async def test_the_setting_turns_the_disk_off(tmp_path: Path) -> None:
    main, _ = write_project(tmp_path)
    cache_home = tmp_path / "cache"
    off = {"compiler": {"persistentCache": False}}
    async with server(cache_home, tmp_path, off) as first:
        open_document(first, main)
        await next_publication(first, main, 0)

    async with server(cache_home, tmp_path, off) as second:
        open_document(second, main)
        await next_publication(second, main, 0)
        assert compiles_started(second) == 1
    assert not (cache_home / "codon-lsp" / RESULTS_FILE).exists()


def as_json(per_file: dict[Path, list[types.Diagnostic]]) -> dict[str, object]:
    converter = converters.get_converter()
    return {str(path): converter.unstructure(items) for path, items in per_file.items()}


def test_a_stdlib_chain_survives_the_round_trip(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text(CHAIN)
    request = CheckRequest(
        path=program, toolchain=describe(codon_binary()), compiler=CompilerSettings()
    )
    result = run_check(request)
    [diagnostic] = result.diagnostics[program.resolve()]
    assert diagnostic.related_information

    again = decode(encode(result))

    # Compared as a client receives them: LSP JSON (lists come back as tuples).
    assert as_json(again.diagnostics) == as_json(result.diagnostics)
    assert again.record == result.record
    assert again.touched == result.touched
    assert again.from_cache is True


def test_a_damaged_entry_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    request = CheckRequest(
        path=program, toolchain=describe(codon_binary()), compiler=CompilerSettings()
    )
    result = run_check(request)
    store = ResultStore(tmp_path / RESULTS_FILE)
    store.save("k", result)
    store.close()
    with sqlite3.connect(tmp_path / RESULTS_FILE) as raw:
        raw.execute("UPDATE results SET payload = '{not json'")

    store = ResultStore(tmp_path / RESULTS_FILE)
    assert store.load("k") is None
    store.save("k", result)
    loaded = store.load("k")
    assert loaded is not None
    assert as_json(loaded.diagnostics) == as_json(result.diagnostics)


def test_an_unusable_folder_means_no_store_and_no_error(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the folder should be")
    store = ResultStore(tmp_path / "blocked" / RESULTS_FILE)
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    request = CheckRequest(
        path=program, toolchain=describe(codon_binary()), compiler=CompilerSettings()
    )

    store.save("k", run_check(request))

    assert store.load("k") is None
    assert store.entries() == 0


def test_the_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    request = CheckRequest(
        path=program, toolchain=describe(codon_binary()), compiler=CompilerSettings()
    )
    result = run_check(request)
    store = ResultStore(tmp_path / RESULTS_FILE, max_entries=3, prune_every=1)
    for key in ("a", "b", "c"):
        store.save(key, result)
    assert store.load("a") is not None

    store.save("d", result)

    assert store.entries() == 3
    assert store.load("b") is None
    assert [store.load(key) is not None for key in ("a", "c", "d")] == [True] * 3
