"""Re-record the compiler transcripts kept beside the programs that produced them.

Usage: python tests/data/transcripts/record.py CODON_BINARY [CODON_BINARY...]
Each binary's stderr for every program lands in ``<version>/<program>.stderr``.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent


def main() -> None:
    for binary in sys.argv[1:]:
        version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        mode = "-cir" if tuple(map(int, version.split("."))) >= (0, 19, 0) else "-llvm"
        out_dir = HERE / version
        out_dir.mkdir(exist_ok=True)
        for program in sorted((HERE / "programs").glob("*.py")):
            with tempfile.TemporaryDirectory() as scratch:
                done = subprocess.run(
                    [binary, "build", mode, "-o", f"{scratch}/out", program.name],
                    cwd=program.parent,
                    capture_output=True,
                    check=False,
                )
            (out_dir / f"{program.stem}.stderr").write_bytes(done.stderr)
            (out_dir / f"{program.stem}.exit").write_text(f"{done.returncode}\n")


if __name__ == "__main__":
    main()
