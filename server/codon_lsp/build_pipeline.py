"""The release build pipeline shared by the editor command and the command line.

One build runs four steps: validate (toolchain, source, flags, output
folder), build (``codon build`` in the sandbox, into a private folder, then
moved into place), scan (``binary_scan``) and finish (SHA-256, mode, policy).
Progress is reported through a callback; cancelling the awaiting task kills
the compiler's process group and leaves no partial artifact behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog
from lsprotocol.types import Diagnostic, DiagnosticSeverity

from codon_lsp.binary_scan import (
    Finding,
    ScanError,
    ScanPolicy,
    ScanResult,
    scan_binary,
)
from codon_lsp.compile_record import CompileObserver, CompileRecord, Outcome
from codon_lsp.compiler_output import strip_colour
from codon_lsp.diagnostics import diagnostics_from_output
from codon_lsp.sandbox import Limits, ProcessResult, SandboxError, run_sandboxed_async
from codon_lsp.settings import BuildSettings, OutputKind
from codon_lsp.toolchain import Toolchain

log = structlog.get_logger("codon")

BuildStep = Literal["validate", "build", "scan", "finish"]
BuildStatus = Literal[
    "passed",
    "policy-failed",
    "compile-error",
    "compiler-crashed",
    "timed-out",
    "scan-failed",
]

DEFAULT_BUILD_TIMEOUT_S = BuildSettings().timeout_seconds
"""A build still running after this long is killed; release builds of big
programs take minutes, far longer than a check."""

STEP_PERCENTAGE: dict[BuildStep, int] = {
    "validate": 0,
    "build": 10,
    "scan": 85,
    "finish": 95,
}
"""Where each step starts on a 0-100 progress bar; compiling dominates."""

KIND_FLAGS: dict[OutputKind, tuple[str, ...]] = {
    "exe": ("-exe",),
    # Codon 0.19 links shared libraries from non-PIC objects unless asked.
    "lib": ("-lib", "-relocation-model=pic"),
    "pyext": ("-pyext",),
    "obj": ("-obj",),
}
"""The ``codon build`` flags of each output kind."""

KIND_SUFFIX: dict[OutputKind, str] = {
    "exe": "",
    "lib": ".so",
    "pyext": ".o",
    "obj": ".o",
}
"""Codon writes Python extensions as objects to be linked by setuptools."""

PRIVILEGED_OPTIONS = frozenset({"plugin", "linker-flags", "l", "libdevice"})
"""Options that load code into the compiler or change what the linker does."""

_RESERVED_OPTIONS = frozenset(
    {"o", "exe", "lib", "pyext", "obj", "llvm", "bc", "asm", "cir", "detect"}
    | {"release", "debug"}
)
_EXECUTABLE_MODE = 0o755
_HASH_CHUNK = 1 << 20


class BuildConfigError(Exception):
    """The build cannot start as asked: bad or untrusted flags, unusable paths."""


@dataclass(frozen=True)
class BuildProgress:
    """One progress report: the step, what it is doing, and a 0-100 percentage."""

    step: BuildStep
    message: str
    percentage: int


ProgressCallback = Callable[[BuildProgress], None]


@dataclass(frozen=True, kw_only=True)
class BuildRequest:
    """What to build and how."""

    source: Path
    output: Path | None = None
    """The artifact's path; unset derives it from ``output_dir`` and the source."""
    output_dir: Path | None = None
    """Folder for the artifact; unset uses ``build/`` beside the source."""
    kind: OutputKind = "exe"
    release: bool = True
    defines: Mapping[str, str] = field(default_factory=dict)
    extra_args: Sequence[str] = ()
    """Flags from settings a workspace may set: privileged options are refused."""
    trusted_extra_args: Sequence[str] = ()
    """Flags from user-level settings or the command line: all options allowed."""
    policy: ScanPolicy = field(default_factory=ScanPolicy)
    timeout_s: float = DEFAULT_BUILD_TIMEOUT_S
    position_encoding: str = "utf-16"
    """How diagnostics count columns: the editor's negotiated encoding, or
    UTF-16 on the command line, as ``codon-lsp check`` does."""


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    """How a build ended, with everything its report shows."""

    source: Path
    artifact: Path
    kind: OutputKind
    release: bool
    status: BuildStatus
    argv: tuple[str, ...]
    codon_version: str
    build_time_s: float
    total_time_s: float
    compiler_output: str
    diagnostics: Mapping[Path, list[Diagnostic]] = field(default_factory=dict)
    source_size_bytes: int = 0
    size_bytes: int | None = None
    sha256: str | None = None
    mode: int | None = None
    scan: ScanResult | None = None
    policy_failures: tuple[Finding, ...] = ()
    detail: str | None = None
    """A short reason when the build did not pass."""

    @property
    def ok(self) -> bool:
        """The artifact was built and passed the scan policy."""
        return self.status == "passed"


def artifact_path(request: BuildRequest) -> Path:
    """Where the artifact of ``request`` goes, as an absolute path."""
    if request.output is not None:
        return request.output.absolute()
    folder = request.output_dir or Path("build")
    if not folder.is_absolute():
        folder = request.source.absolute().parent / folder
    return folder / (request.source.stem + KIND_SUFFIX[request.kind])


def option_name(argument: str) -> str | None:
    """``--linker-flags=-s`` -> ``linker-flags``; None for a non-option argument."""
    if not argument.startswith("-") or argument in ("-", "--"):
        return None
    return argument.lstrip("-").split("=", 1)[0]


def check_flags(extra_args: Sequence[str], *, trusted: bool) -> None:
    """Refuse flags that fight the pipeline, and privileged ones when untrusted."""
    for argument in extra_args:
        name = option_name(argument)
        if name in _RESERVED_OPTIONS:
            raise BuildConfigError(
                f"{argument} is set by the build itself; use the output kind, "
                "output path and release/debug choices instead"
            )
        if name in PRIVILEGED_OPTIONS and not trusted:
            raise BuildConfigError(
                f"{argument} loads code into the compiler or changes the linker: "
                "it is accepted only from user settings, not from a workspace's"
            )


def build_argv(request: BuildRequest, toolchain: Toolchain, output: Path) -> list[str]:
    """The ``codon build`` command line writing ``output``."""
    argv = [str(toolchain.executable), "build", *KIND_FLAGS[request.kind]]
    argv.append("-release" if request.release else "-debug")
    for name, value in request.defines.items():
        argv += ["-D", f"{name}={value}"]
    argv += [*request.extra_args, *request.trusted_extra_args]
    argv += ["-o", str(output), str(request.source.absolute())]
    return argv


async def run_build(
    request: BuildRequest,
    toolchain: Toolchain,
    *,
    progress: ProgressCallback | None = None,
    observer: CompileObserver | None = None,
) -> BuildResult:
    """Validate, build, scan and finish; raises BuildConfigError before building.

    Cancelling the task running this kills the compiler and re-raises
    ``asyncio.CancelledError`` once the private build folder is removed.
    """
    started = time.monotonic()
    report = progress or (lambda _: None)

    report(BuildProgress("validate", "checking toolchain, source and flags", 0))
    artifact = _validate(request, toolchain)

    build_dir = Path(tempfile.mkdtemp(prefix=".codon-build-", dir=artifact.parent))
    try:
        report(BuildProgress("build", f"codon build ({request.kind})", 10))
        staged = build_dir / artifact.name
        argv = build_argv(request, toolchain, staged)
        process = await _compile(request, argv, toolchain, observer)
        if not process.ok or not staged.is_file():
            return _failed(request, toolchain, artifact, argv, process, started)
        staged.replace(artifact)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)

    report(BuildProgress("scan", f"scanning {artifact.name}", 85))
    try:
        scan = await asyncio.to_thread(
            scan_binary, artifact, toolchain_roots=[toolchain.root]
        )
    except ScanError as error:
        failed = _result(request, toolchain, artifact, argv, process, started)
        return dataclasses.replace(failed, status="scan-failed", detail=str(error))

    report(BuildProgress("finish", "hashing and writing the report", 95))
    return await asyncio.to_thread(
        _finish, request, toolchain, artifact, argv, process, started, scan
    )


def _validate(request: BuildRequest, toolchain: Toolchain) -> Path:
    if not toolchain.version_text:
        raise BuildConfigError(f"cannot tell the version of {toolchain.executable}")
    if not request.source.exists():
        raise BuildConfigError(f"no such file: {request.source}")
    if not request.source.is_file():
        raise BuildConfigError(f"{request.source} is not a file")
    check_flags(request.extra_args, trusted=False)
    check_flags(request.trusted_extra_args, trusted=True)

    artifact = artifact_path(request)
    try:
        artifact.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildConfigError(
            f"cannot create the output folder {artifact.parent}: {error.strerror}"
        ) from error
    if not os.access(artifact.parent, os.W_OK | os.X_OK):
        raise BuildConfigError(f"the output folder {artifact.parent} is not writable")
    if artifact.is_dir():
        raise BuildConfigError(f"the output path {artifact} is a folder")
    return artifact


async def _compile(
    request: BuildRequest,
    argv: list[str],
    toolchain: Toolchain,
    observer: CompileObserver | None,
) -> ProcessResult:
    log.info("build.started", path=str(request.source), kind=request.kind, argv=argv)
    try:
        process = await run_sandboxed_async(
            argv,
            cwd=request.source.absolute().parent,
            limits=Limits(timeout_s=request.timeout_s),
        )
    except SandboxError as error:
        raise BuildConfigError(str(error)) from error
    except asyncio.CancelledError:
        log.info("build.cancelled", path=str(request.source))
        _notify(observer, request, toolchain, "cancelled", None, 0, 0)
        raise

    outcome = _outcome(process)
    errors, warnings = (
        _counts(_diagnostics(request, toolchain, process))
        if outcome != "ok"
        else (0, 0)
    )
    _notify(observer, request, toolchain, outcome, process, errors, warnings)
    return process


def _notify(
    observer: CompileObserver | None,
    request: BuildRequest,
    toolchain: Toolchain,
    outcome: Outcome,
    process: ProcessResult | None,
    errors: int,
    warnings: int,
) -> None:
    if observer is None:
        return
    observer(
        CompileRecord(
            path=str(request.source.absolute()),
            kind="build",
            outcome=outcome,
            duration_s=process.duration_s if process else 0.0,
            peak_memory_bytes=process.peak_memory_bytes if process else None,
            codon_version=toolchain.version_text,
            errors=errors,
            warnings=warnings,
            detail=_crash_detail(process) if process and outcome == "crash" else None,
        )
    )


def _outcome(process: ProcessResult) -> Outcome:
    if process.timed_out:
        return "timeout"
    if process.cancelled:
        return "cancelled"
    if process.exit_code == 0:
        return "ok"
    if process.exit_code == 1:
        return "error"
    return "crash"


def _crash_detail(process: ProcessResult) -> str:
    if process.signal_name is not None:
        return f"the compiler was killed by {process.signal_name}"
    return f"the compiler exited with status {process.exit_code}"


def _diagnostics(
    request: BuildRequest, toolchain: Toolchain, process: ProcessResult
) -> dict[Path, list[Diagnostic]]:
    return diagnostics_from_output(
        process.stderr,
        target=request.source.absolute(),
        encoding=request.position_encoding,
        stdlib=toolchain.stdlib,
    )


def _counts(diagnostics: Mapping[Path, list[Diagnostic]]) -> tuple[int, int]:
    severities = [item.severity for items in diagnostics.values() for item in items]
    return (
        severities.count(DiagnosticSeverity.Error),
        severities.count(DiagnosticSeverity.Warning),
    )


def _failed(
    request: BuildRequest,
    toolchain: Toolchain,
    artifact: Path,
    argv: list[str],
    process: ProcessResult,
    started: float,
) -> BuildResult:
    outcome = _outcome(process)
    status: BuildStatus
    if outcome == "timeout":
        status, detail = (
            "timed-out",
            f"the build ran longer than {request.timeout_s:g} s",
        )
    elif outcome == "crash":
        status, detail = "compiler-crashed", _crash_detail(process)
    elif outcome == "ok":
        status, detail = "compile-error", "the compiler wrote no artifact"
    else:
        status, detail = "compile-error", "the source does not compile"
    log.info(
        "build.finished",
        path=str(request.source),
        ok=False,
        status=status,
        duration_s=round(process.duration_s, 3),
    )
    failed = _result(request, toolchain, artifact, argv, process, started)
    return dataclasses.replace(
        failed,
        status=status,
        detail=detail,
        diagnostics=_diagnostics(request, toolchain, process),
    )


def _finish(
    request: BuildRequest,
    toolchain: Toolchain,
    artifact: Path,
    argv: list[str],
    process: ProcessResult,
    started: float,
    scan: ScanResult,
) -> BuildResult:
    if request.kind == "exe":
        artifact.chmod(_EXECUTABLE_MODE)
    failures = tuple(request.policy.failures(scan.findings))
    status: BuildStatus = "policy-failed" if failures else "passed"
    detail = None
    if failures:
        detail = "scan policy failed on " + ", ".join(item.id for item in failures)
    built = _result(request, toolchain, artifact, argv, process, started)
    result = dataclasses.replace(
        built,
        status=status,
        detail=detail,
        scan=scan,
        policy_failures=failures,
        sha256=sha256_of(artifact),
        size_bytes=artifact.stat().st_size,
        mode=artifact.stat().st_mode & 0o7777,
    )
    log.info(
        "build.finished",
        path=str(request.source),
        artifact=str(artifact),
        ok=result.ok,
        status=status,
        duration_s=round(result.total_time_s, 3),
        sha256=result.sha256,
        findings=[item.id for item in scan.findings],
    )
    return result


def _result(
    request: BuildRequest,
    toolchain: Toolchain,
    artifact: Path,
    argv: list[str],
    process: ProcessResult,
    started: float,
) -> BuildResult:
    """The parts of a result every ending shares; callers replace the rest."""
    source_size = 0
    with contextlib.suppress(OSError):
        source_size = request.source.stat().st_size
    return BuildResult(
        source=request.source.absolute(),
        artifact=artifact,
        kind=request.kind,
        release=request.release,
        argv=tuple(argv),
        codon_version=toolchain.version_text,
        build_time_s=process.duration_s,
        total_time_s=time.monotonic() - started,
        compiler_output=strip_colour(process.stderr),
        source_size_bytes=source_size,
        status="compile-error",
    )


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
