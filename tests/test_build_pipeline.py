"""``codon-lsp build`` and the pipeline behind it, with the real Codon compiler.

Codon builds take seconds each, so only three tests build: a release
executable, a source that does not compile, and a shared library failing a
scan policy. Everything refused before the compiler starts is checked without
one.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from codon_lsp.binary_scan import ScanPolicy
from codon_lsp.build_commands import add_build_parser
from codon_lsp.build_pipeline import (
    BuildConfigError,
    BuildRequest,
    artifact_path,
    build_argv,
    run_build,
)
from codon_lsp.logging_setup import configure_logging
from codon_lsp.toolchain import find_codon

SUM_OF_SQUARES = (
    "def sum_of_squares(n: int) -> int:\n"
    "    return sum(i * i for i in range(1, n + 1))\n"
    "print(sum_of_squares(100))\n"
)
BROKEN = 'total = 1\ntotal = total + "two"\n'


def build_cli(*argv: str) -> int:
    configure_logging(level="warning", log_file=None, stdio_mode=False)
    parser = argparse.ArgumentParser()
    add_build_parser(parser.add_subparsers())
    args = parser.parse_args(["build", *argv])
    status: int = args.func(args)
    return status


def json_report(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    return report


def test_release_build_runs_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "squares.py"
    source.write_text(SUM_OF_SQUARES)

    assert build_cli("--release", "--format", "json", str(source)) == 0
    report = json_report(capsys)

    artifact = tmp_path / "build" / "squares"
    assert report["status"] == "passed" and report["ok"] is True
    assert report["artifact"] == str(artifact)
    assert "-release" in report["argv"]
    assert (artifact.stat().st_mode & 0o777) == 0o755
    assert report["mode"] == "0755"
    assert report["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert report["sizeBytes"] == artifact.stat().st_size
    assert report["buildTimeS"] > 0
    assert report["codonVersion"] == find_codon().version_text
    ids = {item["id"] for item in report["scan"]["findings"]}
    assert "library-toolchain-only" in ids
    assert report["policyFailures"] == []
    # Nothing but the artifact is left in the output folder.
    assert [path.name for path in artifact.parent.iterdir()] == ["squares"]

    ran = subprocess.run([str(artifact)], capture_output=True, text=True, check=True)
    assert ran.stdout == "338350\n"


def test_a_compile_error_fails_with_its_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "broken.py"
    source.write_text(BROKEN)

    assert build_cli("--format", "json", str(source)) == 1
    report = json_report(capsys)

    assert report["status"] == "compile-error"
    assert report["artifact"] is None and report["sha256"] is None
    [diagnostic] = report["diagnostics"]
    assert diagnostic["path"] == str(source)
    assert diagnostic["severity"] == "error"
    assert "unsupported operand type(s) for +" in diagnostic["message"]
    assert diagnostic["range"]["start"] == {"line": 1, "character": 8}
    assert not (tmp_path / "build" / "broken").exists()
    assert list((tmp_path / "build").iterdir()) == []


def test_a_policy_failure_on_a_shared_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "squares.py"
    source.write_text(SUM_OF_SQUARES)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"failOn": ["library-toolchain-only"]}))
    output = tmp_path / "out" / "libsquares.so"

    status = build_cli(
        "--kind", "lib", "--policy", str(policy), "-o", str(output), str(source)
    )

    text = capsys.readouterr().out
    assert status == 1
    assert text.startswith(
        "build policy-failed: scan policy failed on library-toolchain-only"
    )
    assert "FAILS POLICY" in text
    assert output.read_bytes()[:4] == b"\x7fELF"
    assert f"sha256:          {hashlib.sha256(output.read_bytes()).hexdigest()}" in text


def test_usage_problems_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "squares.py"
    source.write_text(SUM_OF_SQUARES)
    policy = tmp_path / "policy.json"
    policy.write_text('{"failOn": ["no-such-finding"]}')

    assert build_cli("--codon", str(tmp_path / "no-codon"), str(source)) == 2
    assert "Codon" in capsys.readouterr().err
    assert build_cli("--policy", str(policy), str(source)) == 2
    assert "unknown finding id" in capsys.readouterr().err
    assert build_cli(str(tmp_path / "missing.py")) == 2
    assert f"no such file: {tmp_path / 'missing.py'}" in capsys.readouterr().err
    assert build_cli(str(tmp_path)) == 2
    assert f"{tmp_path} is not a file" in capsys.readouterr().err
    assert build_cli("-D", "NO_EQUALS", str(source)) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
    assert build_cli("--codon-arg=-o", str(source)) == 2
    assert not (tmp_path / "build").exists()


def test_privileged_flags_only_from_trusted_settings(tmp_path: Path) -> None:
    source = tmp_path / "squares.py"
    source.write_text(SUM_OF_SQUARES)
    toolchain = find_codon()

    for flag in ["-plugin=evil", "--linker-flags=-s", "-l", "-libdevice=/x.bc"]:
        request = BuildRequest(source=source, extra_args=[flag])
        with pytest.raises(BuildConfigError, match="only from user settings"):
            asyncio.run(run_build(request, toolchain))

    trusted = BuildRequest(source=source, trusted_extra_args=["-linker-flags=-s"])
    argv = build_argv(trusted, toolchain, tmp_path / "out")
    assert "-linker-flags=-s" in argv
    assert argv[-3:] == ["-o", str(tmp_path / "out"), str(source)]


def test_artifact_paths_and_kind_flags(tmp_path: Path) -> None:
    source = tmp_path / "src" / "app.py"
    toolchain = find_codon()

    assert artifact_path(BuildRequest(source=source)) == tmp_path / "src/build/app"
    assert artifact_path(BuildRequest(source=source, kind="lib")).name == "app.so"
    assert artifact_path(BuildRequest(source=source, kind="obj")).name == "app.o"
    relative = BuildRequest(source=source, output_dir=Path("dist"))
    assert artifact_path(relative) == tmp_path / "src/dist/app"
    absolute = BuildRequest(source=source, output_dir=tmp_path / "bin", kind="pyext")
    assert artifact_path(absolute) == tmp_path / "bin/app.o"

    debug = build_argv(
        BuildRequest(source=source, release=False, defines={"N": "3"}, kind="lib"),
        toolchain,
        tmp_path / "x.so",
    )
    assert debug[1:6] == ["build", "-lib", "-relocation-model=pic", "-debug", "-D"]
    assert "N=3" in debug
    assert ScanPolicy().failures([]) == []
