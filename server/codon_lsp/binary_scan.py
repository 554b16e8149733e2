"""Hardening scan of a built ELF artifact, and the policy that judges its findings.

The scan reads the file with pyelftools and reports what a release reviewer
asks about: position independence, a non-executable stack, RELRO, stack
protector and FORTIFY use, RPATH/RUNPATH entries, writable-and-executable
segments, symbols, and whether each needed shared library can be found on
this machine outside the Codon toolchain's folder. Each problem becomes a
``Finding`` with a stable id that a ``ScanPolicy`` can turn into a failure.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.dynamic import DynamicSegment
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_DT_FLAGS, ENUM_DT_FLAGS_1
from elftools.elf.sections import SymbolTableSection

log = structlog.get_logger("codon")

Severity = Literal["info", "warning", "error"]
Relro = Literal["none", "partial", "full"]
ElfKind = Literal[
    "executable", "pie-executable", "shared-library", "relocatable", "other"
]

FINDINGS: dict[str, Severity] = {
    "not-pie": "warning",
    "exec-stack": "error",
    "no-relro": "warning",
    "partial-relro": "info",
    "no-stack-protector": "info",
    "no-fortify": "info",
    "rpath-toolchain": "warning",
    "rpath-world-writable": "error",
    "rpath-relative": "warning",
    "wx-segment": "error",
    "not-stripped": "info",
    "library-toolchain-only": "warning",
    "library-missing": "error",
    "not-linked": "info",
}
"""Every finding id the scan can report, with its severity."""

STANDARD_LIBRARY_DIRS = ("/lib", "/usr/lib", "/lib64", "/usr/lib64", "/usr/local/lib")
"""Folders the dynamic loader searches by default, before multiarch ones."""

_MULTIARCH = {
    "EM_X86_64": "x86_64-linux-gnu",
    "EM_AARCH64": "aarch64-linux-gnu",
    "EM_386": "i386-linux-gnu",
    "EM_RISCV": "riscv64-linux-gnu",
}
_CODON_RUNTIME = "libcodonrt.so"
_LDCONFIG_LINE = re.compile(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)\s*$")
_LDCONFIG_TIMEOUT_S = 10.0


class ScanError(Exception):
    """The file cannot be scanned: missing, unreadable or not an ELF file."""


class PolicyError(Exception):
    """A scan policy file or setting is malformed or names unknown findings."""


@dataclass(frozen=True)
class Finding:
    """One result of the scan that a reviewer should know about."""

    id: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class NeededLibrary:
    """A DT_NEEDED entry and where this machine would load it from."""

    name: str
    resolved: str | None
    """The path found outside the toolchain, or None."""
    toolchain_only: bool
    """Found only inside the Codon toolchain's folder."""


@dataclass(frozen=True, kw_only=True)
class ScanResult:
    """Everything the scan learned about one ELF file."""

    path: Path
    elf_kind: ElfKind
    machine: str
    pie: bool | None
    """Position-independent executable; None for libraries and objects."""
    nx_stack: bool | None
    relro: Relro | None
    stack_protector: bool
    fortified: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    wx_segments: tuple[int, ...]
    """Indexes of program headers that are both writable and executable."""
    stripped: bool
    needed: tuple[NeededLibrary, ...]
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, Any]:
        """The result as plain JSON values."""
        return {
            "path": str(self.path),
            "elfKind": self.elf_kind,
            "machine": self.machine,
            "pie": self.pie,
            "nxStack": self.nx_stack,
            "relro": self.relro,
            "stackProtector": self.stack_protector,
            "fortified": list(self.fortified),
            "rpath": list(self.rpath),
            "runpath": list(self.runpath),
            "wxSegments": list(self.wx_segments),
            "stripped": self.stripped,
            "needed": [
                {
                    "name": library.name,
                    "resolved": library.resolved,
                    "toolchainOnly": library.toolchain_only,
                }
                for library in self.needed
            ],
            "findings": [
                {"id": item.id, "severity": item.severity, "message": item.message}
                for item in self.findings
            ],
        }


@dataclass(frozen=True)
class ScanPolicy:
    """Which finding ids fail a build; the empty policy fails nothing."""

    fail_on: frozenset[str] = field(default_factory=frozenset)

    def failures(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings this policy turns into a failed build."""
        return [item for item in findings if item.id in self.fail_on]


def policy_from_ids(ids: Iterable[str]) -> ScanPolicy:
    """A policy failing on ``ids``; raises PolicyError naming unknown ids."""
    wanted = frozenset(ids)
    unknown = sorted(wanted - FINDINGS.keys())
    if unknown:
        known = ", ".join(sorted(FINDINGS))
        raise PolicyError(f"unknown finding id(s) {', '.join(unknown)}; known: {known}")
    return ScanPolicy(wanted)


def load_policy(path: Path) -> ScanPolicy:
    """Read a policy file of the form ``{"failOn": ["id", ...]}``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise PolicyError(f"cannot read policy {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise PolicyError(f"policy {path} is not JSON: {error}") from error
    if not isinstance(raw, dict) or not isinstance(raw.get("failOn", []), list):
        raise PolicyError(f'policy {path} must look like {{"failOn": ["id", ...]}}')
    unexpected = sorted(set(raw) - {"failOn"})
    if unexpected:
        raise PolicyError(f"policy {path}: unknown key(s) {', '.join(unexpected)}")
    ids = raw.get("failOn", [])
    if not all(isinstance(item, str) for item in ids):
        raise PolicyError(f"policy {path}: failOn must list strings")
    return policy_from_ids(ids)


def scan_binary(path: Path, *, toolchain_roots: Sequence[Path] = ()) -> ScanResult:
    """Scan the ELF file at ``path``; raises ScanError when it cannot be read as one.

    ``toolchain_roots`` are folders of Codon installs: RUNPATH entries inside
    them, or inside any folder holding Codon's runtime library, count as
    pointing into a toolchain.
    """
    try:
        with path.open("rb") as stream:
            return _scan_stream(ELFFile(stream), path, toolchain_roots)
    except ELFError as error:
        raise ScanError(f"{path} is not an ELF file ({error})") from error
    except IsADirectoryError as error:
        raise ScanError(f"{path} is a folder, not an ELF file") from error
    except OSError as error:
        raise ScanError(f"cannot read {path}: {error.strerror}") from error


def _scan_stream(elf: ELFFile, path: Path, roots: Sequence[Path]) -> ScanResult:
    kind = _elf_kind(elf)
    machine = str(elf.header["e_machine"])
    dynamic = _dynamic_tags(elf)
    linked = kind not in ("relocatable", "other")
    symbols = set(_symbol_names(elf))
    fortified = tuple(sorted(name for name in symbols if _is_fortified(name)))
    rpath = _path_list(dynamic, "DT_RPATH")
    runpath = _path_list(dynamic, "DT_RUNPATH")
    origin = path.resolve().parent
    toolchain = _toolchain_roots(roots, [*runpath, *rpath], origin)

    result = ScanResult(
        path=path,
        elf_kind=kind,
        machine=machine,
        pie=(kind == "pie-executable") if kind.endswith("executable") else None,
        nx_stack=_nx_stack(elf) if linked else None,
        relro=_relro(elf, dynamic) if linked else None,
        stack_protector="__stack_chk_fail" in symbols,
        fortified=fortified,
        rpath=rpath,
        runpath=runpath,
        wx_segments=_wx_segments(elf),
        stripped=elf.get_section_by_name(".symtab") is None,
        needed=tuple(
            _resolve_needed(name, machine, [*runpath, *rpath], origin, toolchain)
            for name in _values(dynamic, "DT_NEEDED")
        ),
        findings=(),
    )
    findings = tuple(_findings(result, origin, toolchain))
    log.info(
        "scan.finished",
        path=str(path),
        elf_kind=kind,
        findings=[item.id for item in findings],
    )
    return dataclasses.replace(result, findings=findings)


def _elf_kind(elf: ELFFile) -> ElfKind:
    e_type = elf.header["e_type"]
    if e_type == "ET_EXEC":
        return "executable"
    if e_type == "ET_REL":
        return "relocatable"
    if e_type != "ET_DYN":
        return "other"
    has_interpreter = any(True for _ in elf.iter_segments("PT_INTERP"))
    flags_1 = _first_value(_dynamic_tags(elf), "DT_FLAGS_1")
    if has_interpreter or flags_1 & ENUM_DT_FLAGS_1["DF_1_PIE"]:
        return "pie-executable"
    return "shared-library"


def _dynamic_tags(elf: ELFFile) -> list[tuple[str, Any]]:
    tags: list[tuple[str, Any]] = []
    for segment in elf.iter_segments("PT_DYNAMIC"):
        if isinstance(segment, DynamicSegment):
            for tag in segment.iter_tags():
                name = str(tag.entry.d_tag)
                value = getattr(tag, _TAG_ATTRIBUTES.get(name, ""), None)
                tags.append((name, tag.entry.d_val if value is None else value))
    return tags


_TAG_ATTRIBUTES = {"DT_NEEDED": "needed", "DT_RPATH": "rpath", "DT_RUNPATH": "runpath"}


def _values(tags: list[tuple[str, Any]], name: str) -> list[Any]:
    return [value for tag, value in tags if tag == name]


def _first_value(tags: list[tuple[str, Any]], name: str) -> int:
    values = _values(tags, name)
    return int(values[0]) if values else 0


def _path_list(tags: list[tuple[str, Any]], name: str) -> tuple[str, ...]:
    return tuple(
        entry
        for value in _values(tags, name)
        for entry in str(value).split(":")
        if entry
    )


def _symbol_names(elf: ELFFile) -> Iterator[str]:
    for section in elf.iter_sections():
        if isinstance(section, SymbolTableSection):
            for symbol in section.iter_symbols():
                if symbol.name:
                    # Versioned names (``__memcpy_chk@GLIBC_2.3.4``) count once.
                    yield symbol.name.split("@", 1)[0]


def _is_fortified(name: str) -> bool:
    # glibc's checked variants are named __<function>_chk (e.g. __memcpy_chk).
    return name.startswith("__") and name.endswith("_chk") and "stack" not in name


def _nx_stack(elf: ELFFile) -> bool:
    # Without PT_GNU_STACK the Linux loader maps the stack executable.
    for segment in elf.iter_segments("PT_GNU_STACK"):
        return not segment["p_flags"] & P_FLAGS.PF_X
    return False


def _relro(elf: ELFFile, dynamic: list[tuple[str, Any]]) -> Relro:
    if not any(True for _ in elf.iter_segments("PT_GNU_RELRO")):
        return "none"
    bind_now = (
        bool(_values(dynamic, "DT_BIND_NOW"))
        or bool(_first_value(dynamic, "DT_FLAGS") & ENUM_DT_FLAGS["DF_BIND_NOW"])
        or bool(_first_value(dynamic, "DT_FLAGS_1") & ENUM_DT_FLAGS_1["DF_1_NOW"])
    )
    return "full" if bind_now else "partial"


def _wx_segments(elf: ELFFile) -> tuple[int, ...]:
    writable_executable = P_FLAGS.PF_W | P_FLAGS.PF_X
    return tuple(
        index
        for index, segment in enumerate(elf.iter_segments())
        if segment["p_type"] == "PT_LOAD"
        and segment["p_flags"] & writable_executable == writable_executable
    )


def _expand_origin(entry: str, origin: Path) -> str:
    return entry.replace("${ORIGIN}", str(origin)).replace("$ORIGIN", str(origin))


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _toolchain_root_of(folder: Path) -> Path | None:
    """The Codon install a folder belongs to, recognised by Codon's runtime library."""
    if (folder / _CODON_RUNTIME).is_file():
        in_lib_codon = folder.name == "codon" and folder.parent.name == "lib"
        return folder.parent.parent if in_lib_codon else folder
    if (folder / "codon" / _CODON_RUNTIME).is_file():
        return folder.parent if folder.name == "lib" else folder
    return None


def _toolchain_roots(
    given: Sequence[Path], search_path: Sequence[str], origin: Path
) -> list[Path]:
    roots = [root.resolve() for root in given]
    for entry in search_path:
        folder = Path(_expand_origin(entry, origin))
        root = _toolchain_root_of(folder.resolve()) if folder.is_absolute() else None
        if root is not None and root not in roots:
            roots.append(root)
    return roots


def _is_toolchain_dir(entry: Path, roots: Sequence[Path]) -> bool:
    return _inside(entry.resolve(), roots)


def _resolve_needed(
    name: str,
    machine: str,
    search_path: Sequence[str],
    origin: Path,
    roots: Sequence[Path],
) -> NeededLibrary:
    outside: list[Path] = []
    inside: list[Path] = []
    for entry in search_path:
        folder = Path(_expand_origin(entry, origin))
        if folder.is_absolute():
            (inside if _is_toolchain_dir(folder, roots) else outside).append(folder)
    outside.extend(Path(folder) for folder in _default_dirs(machine))

    for candidate in _candidates(name, outside, machine):
        if not _inside(candidate.resolve(), roots):
            return NeededLibrary(
                name=name, resolved=str(candidate), toolchain_only=False
            )
    in_toolchain = any(True for _ in _candidates(name, inside, machine))
    return NeededLibrary(name=name, resolved=None, toolchain_only=in_toolchain)


def _candidates(name: str, folders: Sequence[Path], machine: str) -> Iterator[Path]:
    if "/" in name:
        folders = [Path("/")]
        name = name.lstrip("/")
    for folder in folders:
        candidate = folder / name
        if candidate.is_file() and _same_machine(candidate, machine):
            yield candidate
    if "/" not in name:
        cached = _ldconfig_cache().get(name, ())
        yield from (Path(path) for path in cached if _same_machine(Path(path), machine))


def _same_machine(path: Path, machine: str) -> bool:
    try:
        with path.open("rb") as stream:
            return str(ELFFile(stream).header["e_machine"]) == machine
    except (ELFError, OSError):
        return False


def _default_dirs(machine: str) -> list[str]:
    multiarch = _MULTIARCH.get(machine)
    extra = [f"/lib/{multiarch}", f"/usr/lib/{multiarch}"] if multiarch else []
    return [*extra, *STANDARD_LIBRARY_DIRS]


@functools.cache
def _ldconfig_cache() -> dict[str, tuple[str, ...]]:
    """Library name to paths, from the dynamic loader's cache (``ldconfig -p``)."""
    ldconfig = shutil.which("ldconfig") or shutil.which(
        "ldconfig", path="/sbin:/usr/sbin"
    )
    if ldconfig is None:
        log.warning("scan.ldconfig_missing")
        return {}
    try:
        listing = subprocess.run(
            [ldconfig, "-p"],
            capture_output=True,
            text=True,
            timeout=_LDCONFIG_TIMEOUT_S,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as error:
        log.warning("scan.ldconfig_failed", error=str(error))
        return {}
    cache: dict[str, list[str]] = {}
    for line in listing.splitlines():
        match = _LDCONFIG_LINE.match(line)
        if match:
            cache.setdefault(match.group(1), []).append(match.group(3))
    return {name: tuple(paths) for name, paths in cache.items()}


def _other_writable(folder: Path) -> bool:
    """Whether a user other than the owner could plant a library at ``folder``."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        # The folder itself, or where it would be created when it does not
        # exist: any other-writable bit there lets others add files.
        if existing.stat().st_mode & stat.S_IWOTH:
            return True
        for ancestor in existing.parents:
            mode = ancestor.stat().st_mode
            # Without the sticky bit others may rename the folder away and
            # put their own in its place.
            if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
                return True
    except OSError:
        return False
    return False


def _findings(
    result: ScanResult, origin: Path, roots: Sequence[Path]
) -> Iterator[Finding]:
    if result.elf_kind in ("relocatable", "other"):
        yield _finding(
            "not-linked",
            f"{result.elf_kind} ELF file: segment, RELRO and library checks"
            " do not apply",
        )
    yield from _hardening_findings(result)
    yield from _search_path_findings(result, origin, roots)
    for library in result.needed:
        if library.toolchain_only:
            yield _finding(
                "library-toolchain-only",
                f"{library.name} is found only inside the Codon toolchain's folder: "
                "the binary runs only where Codon is installed",
            )
        elif library.resolved is None:
            yield _finding(
                "library-missing", f"{library.name} is not found on this machine"
            )


def _hardening_findings(result: ScanResult) -> Iterator[Finding]:
    if result.pie is False:
        yield _finding(
            "not-pie", "executable is not position-independent (no ASLR for its code)"
        )
    if result.nx_stack is False:
        yield _finding(
            "exec-stack", "the stack is executable (PT_GNU_STACK missing or RWX)"
        )
    if result.relro == "none":
        yield _finding("no-relro", "no RELRO: relocations stay writable")
    elif result.relro == "partial":
        yield _finding(
            "partial-relro", "partial RELRO: the PLT GOT stays writable (no BIND_NOW)"
        )
    if not result.stack_protector:
        yield _finding(
            "no-stack-protector", "no stack protector (__stack_chk_fail not used)"
        )
    if not result.fortified:
        yield _finding("no-fortify", "no FORTIFY_SOURCE checked functions (*_chk) used")
    for index in result.wx_segments:
        yield _finding(
            "wx-segment", f"program header {index} is writable and executable"
        )
    if not result.stripped:
        yield _finding("not-stripped", "symbol table (.symtab) present: not stripped")


def _search_path_findings(
    result: ScanResult, origin: Path, roots: Sequence[Path]
) -> Iterator[Finding]:
    tagged = [("RPATH", entry) for entry in result.rpath] + [
        ("RUNPATH", entry) for entry in result.runpath
    ]
    for tag, entry in tagged:
        expanded = Path(_expand_origin(entry, origin))
        if not expanded.is_absolute():
            yield _finding(
                "rpath-relative",
                f"{tag} entry {entry} is relative to the current folder at run time",
            )
            continue
        if not entry.startswith("$") and _is_toolchain_dir(expanded, roots):
            yield _finding(
                "rpath-toolchain",
                f"{tag} entry {entry} points into the Codon toolchain",
            )
        if _other_writable(expanded):
            yield _finding(
                "rpath-world-writable",
                f"{tag} entry {entry} is in a folder other users can write",
            )


def _finding(finding_id: str, message: str) -> Finding:
    return Finding(finding_id, FINDINGS[finding_id], message)
