"""``codon-lsp check`` as a user runs it: a real process, real Codon, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import codon_binary

EXAMPLES = Path(__file__).parent.parent / "examples"


def run_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codon_lsp", "check", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_json_reports_the_utf16_column_after_an_emoji(tmp_path: Path) -> None:
    program = tmp_path / "emoji.py"
    program.write_text('s = "😀"; n = s + 1\n')
    done = run_check("--format", "json", "--codon", str(codon_binary()), str(program))
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["codon"]["version"] == "0.19.3"
    [entry] = report["files"]
    assert entry["path"] == str(program.resolve())
    [diagnostic] = entry["diagnostics"]
    # s = " is 5 units, the emoji 2 more, then "; n =  7: `s + 1` starts at 14.
    assert diagnostic["range"] == {
        "start": {"line": 0, "character": 14},
        "end": {"line": 0, "character": 19},
    }
    assert diagnostic["severity"] == "error"
    assert diagnostic["source"] == "codon"


def test_the_sorted_chain_lands_on_the_users_call(tmp_path: Path) -> None:
    program = tmp_path / "points.py"
    program.write_text(
        "class Point:\n    def __init__(self, x: int):\n        self.x = x\n\n\n"
        "ordered = sorted([Point(2), Point(1)])\n"
    )
    done = run_check("--format", "json", str(program))
    [entry] = json.loads(done.stdout)["files"]
    [diagnostic] = entry["diagnostics"]
    assert diagnostic["range"]["start"] == {"line": 5, "character": 10}
    related = diagnostic["relatedInformation"]
    assert [Path(r["path"]).name for r in related][:2] == [
        "insertionsort.codon",
        "pdqsort.codon",
    ]
    assert all(Path(r["path"]).is_file() for r in related)


def test_folders_are_checked_recursively_and_clean_files_listed(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "good.codon").write_text("print(1)\n")
    (tmp_path / "good.py").write_text("print(2)\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    done = run_check("--format", "json", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    files = {
        Path(entry["path"]).name: entry["diagnostics"]
        for entry in json.loads(done.stdout)["files"]
    }
    assert files == {"good.codon": [], "good.py": []}


def test_text_output_and_exit_status_on_the_examples() -> None:
    done = run_check(str(EXAMPLES))
    assert done.returncode == 1
    assert "examples/broken_types.py:" in done.stdout
    assert ": error: " in done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith("warnings")


def test_a_missing_compiler_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    done = run_check("--codon", str(tmp_path / "no-codon"), str(program))
    assert done.returncode == 2
    assert "no-codon" in done.stderr
    assert "pip install" in done.stderr


def test_a_missing_path_exits_2(tmp_path: Path) -> None:
    done = run_check(str(tmp_path / "absent.py"))
    assert done.returncode == 2
    assert "no such file" in done.stderr


def test_a_define_codon_would_abort_on_is_a_usage_error(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    for define in ("BAR", "FOO=abc"):
        done = run_check("-D", define, str(program))
        assert done.returncode == 2, done.stdout
        assert "bad define" in done.stderr


def test_a_timeout_of_zero_is_a_usage_error(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    done = run_check("--timeout", "0", str(program))
    assert done.returncode == 2
    assert "greater than 0" in done.stderr


def test_the_summary_counts_the_files_asked_for(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("def f() -> int:\n    return 1 + 'a'\n")
    program = tmp_path / "main.py"
    program.write_text("from helper import f\nprint(f())\n")
    done = run_check(str(program))
    assert (
        done.stdout.strip().splitlines()[-1] == "1 file checked: 2 errors, 0 warnings"
    )


def test_jobs_must_be_a_positive_whole_number(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("print(1)\n")
    done = run_check("--jobs", "0", str(program))
    assert done.returncode == 2
    assert "argument --jobs/-j: expected a whole number greater than 0" in done.stderr


def test_a_file_name_with_a_colon_gets_its_real_diagnostic(tmp_path: Path) -> None:
    program = tmp_path / "a:b.py"
    program.write_text('x = 1 + "a"\n')
    done = run_check(str(program))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == (
        f"{program}:1:5: error: unsupported operand type(s) for +: '1' and ''a''"
    )


def test_a_folder_with_nothing_to_check_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no sources here\n")
    done = run_check(str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"codon-lsp check: no *.py or *.codon files in {tmp_path}\n"


def test_a_file_that_is_not_utf8_is_said_where_it_stops_being_utf8(
    tmp_path: Path,
) -> None:
    program = tmp_path / "latin1.py"
    program.write_bytes(b"# caf\xe9\nprint(1)\n")
    done = run_check(str(program))
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        f"{program}:1:6: warning: This file is not UTF-8 (byte 0xE9 on line 1). "
        "Codon reads sources as UTF-8, so its messages about this file may point "
        "at the wrong place: save the file as UTF-8.",
        "1 file checked: 0 errors, 1 warning",
    ]
