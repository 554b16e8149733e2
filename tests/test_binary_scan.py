"""The ELF scan on real binaries: one Codon release build, and small C programs
linked by gcc with and without hardening, each checked against ``readelf``."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from codon_lsp.binary_scan import (
    FINDINGS,
    PolicyError,
    ScanError,
    load_policy,
    policy_from_ids,
    scan_binary,
)
from codon_lsp.build_commands import add_scan_parser
from codon_lsp.logging_setup import configure_logging
from codon_lsp.toolchain import find_codon

FIB = (
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nprint(fib(20))\n"
)
C_PROGRAM = """#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char copy[64];
    strcpy(copy, argv[0]);
    printf("%s\\n", copy);
    return argc - 1;
}
"""
WX_PROGRAM = """#include <stdio.h>
__attribute__((section(".wxdata,\\"awx\\",@progbits#"))) int value = 7;
int main(void) { printf("%d\\n", value); return 0; }
"""


@dataclass(frozen=True)
class Readelf:
    """What ``readelf -h -l -d -W`` says, parsed here and only for the tests."""

    elf_type: str
    needed: list[str]
    runpath: list[str]
    rpath: list[str]
    gnu_stack_flags: str | None
    has_relro: bool
    bind_now: bool
    load_flags: list[str]


def readelf(path: Path) -> Readelf:
    text = subprocess.run(
        ["readelf", "-h", "-l", "-d", "-W", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    elf_type = re.search(r"^\s*Type:\s+(\w+)", text, re.MULTILINE)
    assert elf_type is not None

    def bracketed(tag: str) -> list[str]:
        found = re.findall(rf"\({tag}\)\s+.*\[(.*)\]", text)
        return [entry for value in found for entry in value.split(":") if entry]

    def segment_flags(kind: str) -> list[str]:
        # Flags sit between the memory size and the alignment columns.
        pattern = rf"^\s*{kind}\s+(?:0x[0-9a-f]+\s+){{5}}(.*?)\s+0x[0-9a-f]+$"
        return [flags.replace(" ", "") for flags in re.findall(pattern, text, re.M)]

    stack = segment_flags("GNU_STACK")
    return Readelf(
        elf_type=elf_type.group(1),
        needed=bracketed("NEEDED"),
        runpath=bracketed("RUNPATH"),
        rpath=bracketed("RPATH"),
        gnu_stack_flags=stack[0] if stack else None,
        has_relro="GNU_RELRO" in text,
        bind_now=bool(
            re.search(r"\(BIND_NOW\)|Flags:.*\bNOW\b|\(FLAGS\).*BIND_NOW", text)
        ),
        load_flags=segment_flags("LOAD"),
    )


@pytest.fixture(scope="module")
def codon_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Codon release executable, built once for the module."""
    folder = tmp_path_factory.mktemp("codon_exe")
    source = folder / "fib.py"
    source.write_text(FIB)
    output = folder / "fib"
    subprocess.run(
        [
            str(find_codon().executable),
            "build",
            "-release",
            "-o",
            str(output),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return output


def gcc(folder: Path, name: str, source: str, *flags: str) -> Path:
    program = folder / f"{name}.c"
    program.write_text(source)
    output = folder / name
    subprocess.run(
        ["gcc", *flags, "-o", str(output), str(program)],
        check=True,
        capture_output=True,
    )
    return output


def finding_ids(path: Path) -> set[str]:
    return {item.id for item in scan_binary(path).findings}


def test_codon_executable_matches_readelf(codon_exe: Path) -> None:
    toolchain = find_codon()
    scan = scan_binary(codon_exe, toolchain_roots=[toolchain.root])
    seen = readelf(codon_exe)

    assert scan.pie == (seen.elf_type == "DYN")
    assert list(scan.runpath) == seen.runpath
    assert list(scan.rpath) == seen.rpath
    assert [library.name for library in scan.needed] == seen.needed
    assert scan.nx_stack == (
        seen.gnu_stack_flags is not None and "E" not in seen.gnu_stack_flags
    )
    expected_relro = (
        "none" if not seen.has_relro else "full" if seen.bind_now else "partial"
    )
    assert scan.relro == expected_relro
    assert bool(scan.wx_segments) == any("W" in f and "E" in f for f in seen.load_flags)

    ids = {item.id for item in scan.findings}
    assert ("not-pie" in ids) == (seen.elf_type == "EXEC")
    into_toolchain = [
        entry
        for entry in seen.runpath
        if Path(entry).resolve().is_relative_to(toolchain.root)
    ]
    assert into_toolchain, "a Codon executable carries a RUNPATH into its toolchain"
    messages = [item.message for item in scan.findings if item.id == "rpath-toolchain"]
    assert len(messages) == len(into_toolchain)
    assert all(
        any(entry in message for message in messages) for entry in into_toolchain
    )


def test_codon_runtime_resolves_only_inside_the_toolchain(codon_exe: Path) -> None:
    scan = scan_binary(codon_exe, toolchain_roots=[find_codon().root])

    runtime = next(lib for lib in scan.needed if lib.name == "libcodonrt.so")
    libc = next(lib for lib in scan.needed if lib.name == "libc.so.6")
    assert runtime.toolchain_only and runtime.resolved is None
    assert libc.resolved is not None and Path(libc.resolved).is_file()
    assert "library-toolchain-only" in {item.id for item in scan.findings}


def test_toolchain_is_recognised_without_being_told(codon_exe: Path) -> None:
    # `codon-lsp scan` on a machine where Codon is not found still knows its runtime.
    ids = {item.id for item in scan_binary(codon_exe).findings}
    assert {"rpath-toolchain", "library-toolchain-only"} <= ids


def test_hardened_c_program(tmp_path: Path) -> None:
    hardening = ["-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-all", "-fPIE"]
    linking = ["-pie", "-Wl,-z,relro,-z,now", "-s"]
    binary = gcc(tmp_path, "hard", C_PROGRAM, *hardening, *linking)
    scan = scan_binary(binary)
    seen = readelf(binary)

    assert seen.elf_type == "DYN" and scan.pie is True
    assert scan.relro == "full" and seen.bind_now
    assert scan.nx_stack is True
    assert scan.stack_protector is True
    assert scan.fortified == ("__strcpy_chk",)
    assert scan.stripped is True
    assert scan.findings == ()


def test_weak_c_program(tmp_path: Path) -> None:
    writable = tmp_path / "shared-libs"
    writable.mkdir()
    writable.chmod(0o777)
    weakening = ["-O0", "-no-pie", "-fno-stack-protector", "-z", "execstack"]
    linking = ["-Wl,-z,norelro", f"-Wl,-rpath,{writable}", "-Wl,--disable-new-dtags"]
    binary = gcc(tmp_path, "weak", C_PROGRAM, *weakening, *linking)
    scan = scan_binary(binary)
    seen = readelf(binary)

    assert seen.elf_type == "EXEC" and scan.pie is False
    assert seen.gnu_stack_flags is not None and "E" in seen.gnu_stack_flags
    assert scan.nx_stack is False
    assert scan.relro == "none" and not seen.has_relro
    assert list(scan.rpath) == seen.rpath == [str(writable)]
    assert finding_ids(binary) == {
        "not-pie",
        "exec-stack",
        "no-relro",
        "no-stack-protector",
        "no-fortify",
        "not-stripped",
        "rpath-world-writable",
    }


def test_missing_rpath_folder_under_a_world_writable_one(tmp_path: Path) -> None:
    shared = tmp_path / "drop"
    shared.mkdir()
    shared.chmod(0o1777)
    binary = gcc(tmp_path, "later", C_PROGRAM, f"-Wl,-rpath,{shared / 'not-yet'}")
    # Anyone may create the missing folder, sticky bit or not.
    assert "rpath-world-writable" in finding_ids(binary)


def test_writable_and_executable_segment(tmp_path: Path) -> None:
    binary = gcc(tmp_path, "wx", WX_PROGRAM)
    scan = scan_binary(binary)
    seen = readelf(binary)

    rwx = [index for index, flags in enumerate(seen.load_flags) if flags == "RWE"]
    assert rwx and len(scan.wx_segments) == len(rwx)
    assert "wx-segment" in {item.id for item in scan.findings}


def test_missing_library(tmp_path: Path) -> None:
    library = gcc(
        tmp_path, "libgone.so", "int gone(void) { return 1; }\n", "-shared", "-fPIC"
    )
    program = tmp_path / "user.c"
    program.write_text("int gone(void);\nint main(void) { return gone(); }\n")
    binary = tmp_path / "user"
    subprocess.run(
        ["gcc", "-o", str(binary), str(program), f"-L{tmp_path}", "-lgone"],
        check=True,
        capture_output=True,
    )
    library.unlink()

    scan = scan_binary(binary)
    gone = next(lib for lib in scan.needed if lib.name == "libgone.so")
    assert gone.resolved is None and not gone.toolchain_only
    assert "library-missing" in {item.id for item in scan.findings}


def test_a_non_elf_file_is_a_clear_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(ScanError, match=r"notes\.txt is not an ELF file"):
        scan_binary(text)
    with pytest.raises(ScanError, match="cannot read"):
        scan_binary(tmp_path / "absent")
    with pytest.raises(ScanError, match="is a folder"):
        scan_binary(tmp_path)


def scan_cli(*argv: str) -> int:
    configure_logging(level="warning", log_file=None, stdio_mode=False)
    parser = argparse.ArgumentParser()
    add_scan_parser(parser.add_subparsers())
    args = parser.parse_args(["scan", *argv])
    status: int = args.func(args)
    return status


def test_scan_command(
    codon_exe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert scan_cli("--format", "json", str(codon_exe)) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pie"] is False
    assert report["runpath"] == readelf(codon_exe).runpath
    assert {item["id"] for item in report["findings"]} >= {"not-pie", "rpath-toolchain"}
    assert report["policyFailures"] == []

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"failOn": ["not-pie"]}))
    assert scan_cli("--policy", str(policy), str(codon_exe)) == 1
    out = capsys.readouterr().out
    [marked] = [line for line in out.splitlines() if "FAILS POLICY" in line]
    assert "not-pie" in marked
    assert out.splitlines()[-1] == "scan policy failed on not-pie"
    assert scan_cli("--policy", str(policy), "--format", "json", str(codon_exe)) == 1
    assert json.loads(capsys.readouterr().out)["policyFailures"] == ["not-pie"]

    assert scan_cli("--codon", str(tmp_path / "no-codon"), str(codon_exe)) == 2
    assert "no-codon" in capsys.readouterr().err

    text = tmp_path / "readme.md"
    text.write_text("# not a binary\n")
    assert scan_cli(str(text)) == 2
    assert "readme.md is not an ELF file" in capsys.readouterr().err


def test_policies(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"failOn": ["not-pie", "exec-stack"]}')
    assert load_policy(good).fail_on == {"not-pie", "exec-stack"}
    assert policy_from_ids([]).fail_on == frozenset()
    assert set(FINDINGS) >= {"not-pie", "rpath-toolchain", "library-toolchain-only"}

    for name, content, problem in [
        ("unknown.json", '{"failOn": ["no-such-check"]}', "unknown finding id"),
        ("broken.json", "{failOn", "not JSON"),
        ("shape.json", '["not-pie"]', "must look like"),
        ("extra.json", '{"failOn": [], "warnOn": []}', "unknown key"),
    ]:
        path = tmp_path / name
        path.write_text(content)
        with pytest.raises(PolicyError, match=problem):
            load_policy(path)
