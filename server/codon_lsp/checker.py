"""One check: run the compiler on a file and turn what it says into diagnostics.

A check compiles into a private temporary folder (nothing is written beside
the user's files), with the file's folder as working directory and no shell.
A saved file is compiled from disk; an unsaved buffer is piped to the
compiler's standard input. Results are cached by everything that decides
them: the file's and its imported project files' contents, the flags and the
compiler's identity.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from lsprotocol import types

from codon_lsp.compile_record import CompileRecord, Outcome
from codon_lsp.compiler_output import parse_output, strip_colour
from codon_lsp.diagnostics import (
    diagnostics_from_output,
    message_diagnostic,
    not_utf8_diagnostic,
)
from codon_lsp.positions import split_lines
from codon_lsp.project_files import ProjectFiles, collect_project_files
from codon_lsp.sandbox import (
    Limits,
    ProcessResult,
    SandboxedProcess,
    SandboxError,
    clean_environment,
)
from codon_lsp.settings import CompilerSettings
from codon_lsp.toolchain import Toolchain

log = structlog.get_logger("codon")

CRASH_TAIL_LINES = 15
"""How much of a crashed compiler's output a diagnostic quotes."""
CACHE_SIZE = 256


@dataclass(frozen=True, kw_only=True)
class CheckRequest:
    """What to check and how."""

    path: Path
    toolchain: Toolchain
    compiler: CompilerSettings
    encoding: str = "utf-16"
    unsaved_source: bytes | None = None
    """An editor buffer to check instead of the file on disk."""


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """Diagnostics per file (the target always included) and the compile record."""

    target: Path
    diagnostics: dict[Path, list[types.Diagnostic]]
    record: CompileRecord
    from_cache: bool = False
    touched: tuple[Path, ...] = field(default=())
    """The project files this check read (the target and what it imports)."""

    @property
    def error_count(self) -> int:
        return _count(self.diagnostics, types.DiagnosticSeverity.Error)


def _count(per_file: dict[Path, list[types.Diagnostic]], severity: int) -> int:
    return sum(
        1 for items in per_file.values() for d in items if d.severity == severity
    )


def compile_argv(request: CheckRequest, output_dir: Path) -> list[str]:
    """The compiler's command line for a check (no shell ever parses it)."""
    argv = [
        str(request.toolchain.executable),
        *request.toolchain.check_args(output_dir),
    ]
    for name, value in sorted(request.compiler.defines.items()):
        argv += ["-D", f"{name}={value}"]
    argv += request.compiler.extra_args
    argv.append("-" if request.unsaved_source is not None else str(request.path))
    return argv


class CheckError(Exception):
    """The file to check cannot be read (vanished, unreadable, a folder)."""


def _source_of(request: CheckRequest) -> bytes:
    if request.unsaved_source is not None:
        return request.unsaved_source
    try:
        return request.path.read_bytes()
    except OSError as error:
        raise CheckError(f"cannot read {request.path}: {error.strerror}") from error


def cache_key(request: CheckRequest, project: ProjectFiles, source: bytes) -> str:
    """A digest of everything the result depends on."""
    digest = hashlib.sha256()
    digest.update(request.toolchain.identity().encode())
    # A buffer piped on stdin and the same bytes saved on disk give the same
    # diagnostics (``<stdin>`` is mapped onto the file), so they share a key.
    as_saved = dataclasses.replace(request, unsaved_source=None)
    digest.update(repr(compile_argv(as_saved, Path("/"))).encode())
    digest.update(request.encoding.encode())
    digest.update(source)
    for path in project.files[1:]:
        digest.update(str(path).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\0missing")
    return digest.hexdigest()


class ResultCache:
    """The last results by cache key, least recently used dropped first."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, CheckResult] = OrderedDict()

    def get(self, key: str) -> CheckResult | None:
        result = self._items.get(key)
        if result is not None:
            self._items.move_to_end(key)
        return result

    def put(self, key: str, result: CheckResult) -> None:
        self._items[key] = result
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class Check:
    """A check in preparation, then running: ``start`` it, then ``finish`` it.

    Creating one reads the file and its imports; raises CheckError if it can't.
    """

    def __init__(self, request: CheckRequest) -> None:
        self.request = request
        self.target = request.path.resolve()
        self.source = _source_of(request)
        self.project = collect_project_files(
            self.target, self.source.decode("utf-8", errors="replace")
        )
        self.key = cache_key(request, self.project, self.source)
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self.process: SandboxedProcess | None = None

    def start(self) -> SandboxedProcess:
        """Start the compiler; raises SandboxError if it cannot start."""
        self._folder = tempfile.TemporaryDirectory(prefix="codon-lsp-check-")
        argv = compile_argv(self.request, Path(self._folder.name))
        log.debug("compile.argv", argv=argv)
        self.process = SandboxedProcess(
            argv,
            cwd=self.target.parent,
            limits=Limits(timeout_s=self.request.compiler.timeout_seconds),
            env=clean_environment(),
            stdin_data=self.source if self.request.unsaved_source is not None else None,
        )
        return self.process

    def finish(self, outcome: ProcessResult) -> CheckResult:
        """Interpret the finished compiler and clean up its folder."""
        try:
            return interpret(self, outcome)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def read_source(self, path: Path) -> bytes | None:
        if path == self.target:
            return self.source
        try:
            return path.read_bytes()
        except OSError:
            return None


def _tail(result: ProcessResult) -> str:
    lines = strip_colour(result.stderr + result.stdout).strip().splitlines()
    return "\n".join(lines[-CRASH_TAIL_LINES:])


def _outcome_of(result: ProcessResult, crashed: bool) -> Outcome:
    if result.cancelled:
        return "cancelled"
    if result.timed_out:
        return "timeout"
    if crashed:
        return "crash"
    return "ok" if result.exit_code == 0 else "error"


def interpret(check: Check, result: ProcessResult) -> CheckResult:
    """Diagnostics and a record from a finished (or killed) compiler."""
    request = check.request
    target = check.target
    encoding = request.encoding
    per_file = diagnostics_from_output(
        result.stderr,
        target=target,
        encoding=encoding,
        stdlib=request.toolchain.stdlib,
        project=check.project,
        read_source=check.read_source,
    )
    parsed = parse_output(result.stderr)
    ended_badly = result.exit_code not in (0, 1)
    silent_failure = result.exit_code == 1 and not any(
        m.severity == "error" for m in parsed.messages
    )
    crashed = (
        not result.timed_out
        and not result.cancelled
        and (ended_badly or silent_failure)
    )
    lines = split_lines(check.source)
    detail = None
    if result.timed_out:
        detail = (
            f"Codon did not finish within {request.compiler.timeout_seconds:g} s "
            "and was stopped; raise the timeout (codon.compiler.timeoutSeconds, "
            "or --timeout) if it needs longer."
        )
    elif silent_failure:
        detail = (
            "Codon failed (exit status 1) without a message codon-lsp could read. "
            f"Its last output:\n{_tail(result)}"
        )
    elif crashed:
        how = result.signal_name or f"exit status {result.exit_code}"
        detail = (
            f"The Codon compiler crashed ({how}). Its last output:\n{_tail(result)}"
        )
    if detail is not None:
        per_file[target].insert(
            0,
            message_diagnostic(lines, detail, types.DiagnosticSeverity.Error, encoding),
        )
    encoding_warning = not_utf8_diagnostic(check.source, encoding)
    if encoding_warning is not None:
        per_file.setdefault(target, []).insert(0, encoding_warning)
    record = CompileRecord(
        path=str(target),
        kind="check",
        outcome=_outcome_of(result, crashed),
        duration_s=round(result.duration_s, 4),
        peak_memory_bytes=result.peak_memory_bytes,
        codon_version=request.toolchain.version_text,
        errors=_count(per_file, types.DiagnosticSeverity.Error),
        warnings=_count(per_file, types.DiagnosticSeverity.Warning),
        detail=detail.splitlines()[0] if detail else None,
    )
    return CheckResult(
        target=target, diagnostics=per_file, record=record, touched=check.project.files
    )


def start_failure(check: Check, error: SandboxError) -> CheckResult:
    """The result when the compiler could not even be started."""
    lines = split_lines(check.source)
    message = f"Could not start the Codon compiler: {error}"
    diagnostic = message_diagnostic(lines, message, types.DiagnosticSeverity.Error)
    record = CompileRecord(
        path=str(check.target),
        kind="check",
        outcome="crash",
        duration_s=0.0,
        peak_memory_bytes=None,
        codon_version=check.request.toolchain.version_text,
        errors=1,
        detail=message,
    )
    return CheckResult(
        target=check.target, diagnostics={check.target: [diagnostic]}, record=record
    )


def run_check(
    request: CheckRequest,
    cache: ResultCache | None = None,
    on_started: Callable[[Check], None] | None = None,
) -> CheckResult:
    """Run one check to the end, blocking (the command line's way)."""
    started = time.monotonic()
    check = Check(request)
    if cache is not None and (cached := cache.get(check.key)) is not None:
        log.debug("check.cached", path=str(check.target))
        return cached
    try:
        process = check.start()
    except SandboxError as error:
        check.cleanup()
        return start_failure(check, error)
    if on_started is not None:
        on_started(check)
    result = check.finish(process.wait())
    if cache is not None and result.record.outcome in ("ok", "error"):
        cache.put(check.key, as_cached(result))
    log.debug("check.total", path=str(check.target), seconds=time.monotonic() - started)
    return result


def as_cached(result: CheckResult) -> CheckResult:
    return CheckResult(
        target=result.target,
        diagnostics=result.diagnostics,
        record=result.record,
        from_cache=True,
        touched=result.touched,
    )
