"""End to end in a real editor: Neovim 0.7's built-in LSP client drives the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import codon_binary

pytestmark = pytest.mark.editor
EDITORS = Path(__file__).parent / "editors"
SCRIPT = EDITORS / "neovim_check.lua"


def run_neovim(script: Path, program: Path, tmp_path: Path) -> dict[str, Any]:
    """Run a Lua driver in a headless Neovim with a clean profile; its JSON result."""
    result_path = tmp_path / "result.json"
    env = {
        **os.environ,
        "TARGET": str(program),
        "RESULT": str(result_path),
        "SERVER_PYTHON": sys.executable,
        "CODON": str(codon_binary()),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    subprocess.run(
        ["nvim", "--headless", "--clean", "-n", "-c", f"luafile {script}"],
        env=env,
        check=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    result: dict[str, Any] = json.loads(result_path.read_text())
    assert "error" not in result, f"the Lua driver failed: {result['error']}"
    return result


needs_neovim = pytest.mark.skipif(
    shutil.which("nvim") is None,
    reason="Neovim is not installed (apt-get install neovim)",
)


@needs_neovim
def test_neovim_shows_the_error_in_place_and_clears_it_after_a_fixing_save(
    tmp_path: Path,
) -> None:
    program = tmp_path / "accents.py"
    program.write_text('s = "é"; y = s + 1\n')
    result = run_neovim(SCRIPT, program, tmp_path)
    assert result["attached"] is True
    assert result["appeared"] is True
    first = result["first"]
    assert first["source"] == "codon"
    assert first["severity"] == 1
    assert "unsupported operand type(s) for +" in first["message"]
    # Neovim counts bytes: `s = "é"; y = ` is 14 bytes, so `s + 1` spans 14..19.
    assert (first["lnum"], first["col"], first["end_col"]) == (0, 14, 19)
    assert result["cleared"] is True


@needs_neovim
def test_neovim_applies_the_cpython_import_quick_fix(tmp_path: Path) -> None:
    program = tmp_path / "net.py"
    program.write_text("import socket\n\nprint(socket.gethostname() != '')\n")

    result = run_neovim(EDITORS / "neovim_quickfix.lua", program, tmp_path)

    assert result["appeared"] is True
    assert "Import `socket` from CPython" in result["titles"]
    assert "Run this file with CPython" in result["titles"]
    assert result["had_edit"] is True
    assert result["cleared"] is True
    assert result["first_line"] == "from python import socket"
    assert program.read_text().startswith("from python import socket\n")
