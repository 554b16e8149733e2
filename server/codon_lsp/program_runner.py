"""Running a user's program with Codon (``codon run``) or CPython, inside the limits.

A run is planned first (argument vector, folder, environment, limits, notices
for the user) and then started in ``codon_lsp.sandbox``: no shell, its own
process group, wall-time and address-space limits, thread caps, bounded
output, an environment without our secrets. Codon programs get
``CODON_PYTHON`` (and ``PYTHONEXECUTABLE``) set from the configured
interpreter so that ``@python`` and ``from python import`` work.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog

from codon_lsp.compiler_output import parse_output
from codon_lsp.runtime_errors import (
    RuntimeException,
    describe_signal,
    parse_codon_exception,
    parse_python_exception,
)
from codon_lsp.sandbox import (
    Limits,
    OutputCallback,
    ProcessResult,
    SandboxedProcess,
    clean_environment,
    run_sandboxed,
)
from codon_lsp.settings import LimitSettings, Settings

log = structlog.get_logger("codon")

Engine = Literal["codon", "python"]

PYTHONEXECUTABLE_SINCE = (3, 11)
"""Since 3.11 an embedded CPython finds its prefix (and venv) from PYTHONEXECUTABLE."""
_DESCRIBE_TIMEOUT_S = 20.0
_DESCRIBE_SCRIPT = """
import json, sys, sysconfig
names = ("LIBDIR", "LDLIBRARY", "INSTSONAME", "MULTIARCH", "VERSION")
print(json.dumps({
    "executable": sys.executable,
    "base_prefix": sys.base_prefix,
    "version": list(sys.version_info[:2]),
    "config": {name: sysconfig.get_config_var(name) for name in names},
}))
"""


class RunError(Exception):
    """A program could not be run at all; the message says why and what to do."""


class InterpreterNotFound(RunError):
    """The configured (or default) CPython interpreter is missing or broken."""


@dataclass(frozen=True, kw_only=True)
class PythonRuntime:
    """A CPython interpreter and the shared libpython Codon can load for it."""

    executable: Path
    base_prefix: Path
    version: tuple[int, int]
    libpython: Path | None
    missing_libpython: str | None = None
    """Why no libpython was found and what to install, when it was not."""


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """Everything needed to start one run."""

    engine: Engine
    file: Path
    argv: tuple[str, ...]
    cwd: Path
    env: dict[str, str]
    limits: Limits
    notices: tuple[str, ...] = field(default=())
    """Things the user should read before the output (a missing libpython)."""
    library_roots: tuple[Path, ...] = field(default=())
    """Folders whose frames are not the user's code (Codon's install)."""

    def is_user_code(self, path: Path) -> bool:
        """Whether a backtrace frame in ``path`` is the user's code."""
        resolved = path.resolve()
        if any(resolved.is_relative_to(root) for root in self.library_roots):
            return False
        return self.engine == "codon" or resolved.is_relative_to(self.cwd)


def limits_from(settings: LimitSettings) -> Limits:
    """The sandbox limits a run gets from the ``limits`` settings."""
    return Limits(
        timeout_s=settings.timeout_seconds,
        memory_bytes=settings.memory_mb * 1024 * 1024,
        threads=settings.threads,
        max_output_bytes=settings.max_output_bytes,
    )


def find_interpreter(configured: str | None) -> Path:
    """The interpreter named in the settings, else ``python3`` on PATH."""
    name = configured or "python3"
    found = shutil.which(name)
    if found is None:
        where = (
            f"`{configured}` (codon.python.interpreter, or --interpreter)"
            if configured
            else "python3 on PATH"
        )
        raise InterpreterNotFound(
            f"No Python interpreter found: looked for {where}. Install python3, "
            "or name one in codon.python.interpreter (--interpreter on the "
            "command line)."
        )
    return Path(found)


_runtimes: dict[tuple[Path, int], PythonRuntime] = {}


def describe_python(interpreter: Path) -> PythonRuntime:
    """Ask ``interpreter`` (through ``sysconfig``) where its shared libpython is."""
    key = (interpreter, interpreter.stat().st_mtime_ns)
    if key in _runtimes:
        return _runtimes[key]
    result = run_sandboxed(
        [str(interpreter), "-I", "-c", _DESCRIBE_SCRIPT],
        cwd=Path("/"),
        limits=Limits(timeout_s=_DESCRIBE_TIMEOUT_S, max_output_bytes=100_000),
        env=clean_environment(),
    )
    try:
        facts = json.loads(result.stdout)
    except json.JSONDecodeError as error:
        raise InterpreterNotFound(
            f"{interpreter} did not describe itself: {result.stderr.strip()[:300]}"
        ) from error
    runtime = _runtime_from(facts)
    _runtimes[key] = runtime
    log.info(
        "python.described",
        interpreter=str(runtime.executable),
        libpython=str(runtime.libpython) if runtime.libpython else None,
    )
    return runtime


def _runtime_from(facts: dict[str, object]) -> PythonRuntime:
    config = facts["config"]
    assert isinstance(config, dict)
    version_list = facts["version"]
    assert isinstance(version_list, list)
    version = (int(version_list[0]), int(version_list[1]))
    candidates = _libpython_candidates(config, version)
    libpython = next((path for path in candidates if path.is_file()), None)
    missing = (
        None if libpython is not None else _missing_libpython_hint(version, candidates)
    )
    return PythonRuntime(
        executable=Path(str(facts["executable"])),
        base_prefix=Path(str(facts["base_prefix"])),
        version=version,
        libpython=libpython,
        missing_libpython=missing,
    )


def _libpython_candidates(
    config: dict[str, object], version: tuple[int, int]
) -> list[Path]:
    libdir = Path(str(config.get("LIBDIR") or "/usr/lib"))
    multiarch = str(config.get("MULTIARCH") or "")
    names = [str(config[key]) for key in ("LDLIBRARY", "INSTSONAME") if config.get(key)]
    # A static build names a .a here; its distribution may still ship the .so.
    names = [name for name in names if ".so" in name]
    names += [
        f"libpython{version[0]}.{version[1]}.so",
        f"libpython{version[0]}.{version[1]}.so.1.0",
    ]
    folders = [libdir, libdir / multiarch] if multiarch else [libdir]
    if multiarch:
        folders.append(Path("/usr/lib") / multiarch)
    return [folder / name for folder in folders for name in dict.fromkeys(names)]


def _missing_libpython_hint(version: tuple[int, int], searched: list[Path]) -> str:
    release = f"{version[0]}.{version[1]}"
    return (
        f"CPython interop (@python, from python import) is unavailable: no shared "
        f"libpython{release} was found (searched {', '.join(map(str, searched[:4]))}). "
        f"Install it (Debian/Ubuntu: apt-get install libpython{release}), use a Python "
        "built with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared), "
        "or set codon.python.interpreter to one that has it."
    )


def python_environment(runtime: PythonRuntime) -> dict[str, str]:
    """Variables that make Codon's embedded CPython be ``runtime``'s interpreter."""
    if runtime.libpython is None:
        return {}
    env = {"CODON_PYTHON": str(runtime.libpython)}
    if runtime.version >= PYTHONEXECUTABLE_SINCE:
        # Without it the embedded CPython guesses its prefix from python3 on PATH,
        # which may be another build whose extension modules do not match.
        env["PYTHONEXECUTABLE"] = str(runtime.executable)
    else:
        env["PYTHONHOME"] = str(runtime.base_prefix)
    return env


def _line_buffered(argv: list[str]) -> list[str]:
    # Codon programs write through C stdio: into a pipe it is block-buffered and
    # what was printed before an abort is lost. stdbuf makes it line-buffered.
    stdbuf = shutil.which("stdbuf")
    return [stdbuf, "-oL", "-eL", *argv] if stdbuf else argv


def plan_codon_run(
    codon: Path, file: Path, args: Sequence[str], settings: Settings
) -> RunPlan:
    """``codon run FILE ARGS`` in the file's folder, with CPython interop set up."""
    file = file.resolve()
    notices: list[str] = []
    python_env: dict[str, str] = {}
    try:
        runtime = describe_python(find_interpreter(settings.python.interpreter))
    except (RunError, OSError) as error:
        notices.append(f"CPython interop is unavailable: {error}")
    else:
        python_env = python_environment(runtime)
        if runtime.missing_libpython:
            notices.append(runtime.missing_libpython)
    limits = limits_from(settings.limits)
    env = clean_environment(python_env, threads=settings.limits.threads)
    argv = _line_buffered([str(codon), "run", str(file), *args])
    return RunPlan(
        engine="codon",
        file=file,
        argv=tuple(argv),
        cwd=file.parent,
        env=env,
        limits=limits,
        notices=tuple(notices),
        library_roots=(codon.resolve().parent.parent,),
    )


def plan_python_run(file: Path, args: Sequence[str], settings: Settings) -> RunPlan:
    """The configured interpreter on FILE ARGS (unbuffered) in the file's folder."""
    file = file.resolve()
    interpreter = find_interpreter(settings.python.interpreter)
    env = clean_environment({"PYTHONUNBUFFERED": "1"}, threads=settings.limits.threads)
    return RunPlan(
        engine="python",
        file=file,
        argv=(str(interpreter), "-u", str(file), *args),
        cwd=file.parent,
        env=env,
        limits=limits_from(settings.limits),
    )


def start(plan: RunPlan, on_output: OutputCallback | None = None) -> SandboxedProcess:
    """Start a planned run; ``wait()`` on the result, ``kill()`` to cancel it."""
    log.info("run.started", path=str(plan.file), engine=plan.engine)
    return SandboxedProcess(
        plan.argv, cwd=plan.cwd, limits=plan.limits, env=plan.env, on_output=on_output
    )


def run(plan: RunPlan, on_output: OutputCallback | None = None) -> ProcessResult:
    """Start a planned run and wait for it, blocking."""
    return start(plan, on_output).wait()


OUT_OF_MEMORY_MARKS = (
    "std::bad_alloc",
    "Out of heap memory",
    "Cannot allocate memory",
    "MemoryError",
    "GC Warning: Out of Memory",
    "failed to map segment",
)
"""What a program prints when an allocation fails: the C++ runtime, OpenMP,
libc, CPython, Boehm GC (Codon's collector) and the dynamic loader (mapping a
shared library) each say it their own way."""


def ran_out_of_memory(result: ProcessResult, limits: Limits) -> bool:
    """Whether a failed run says an allocation failed under our memory limit."""
    if result.ok or limits.memory_bytes is None:
        return False
    return any(mark in result.stderr for mark in OUT_OF_MEMORY_MARKS)


def compile_error_of(plan: RunPlan, result: ProcessResult) -> str | None:
    """The first compile error of a ``codon run`` that never started the program.

    ``codon run`` compiles first and exits 1 with the compiler's messages when
    that fails; saying so beats a bare "exited with status 1".
    """
    if plan.engine != "codon" or result.exit_code != 1:
        return None
    errors = [
        message
        for message in parse_output(result.stderr).messages
        if message.severity == "error"
    ]
    return errors[0].message if errors else None


def exception_of(plan: RunPlan, result: ProcessResult) -> RuntimeException | None:
    """The uncaught exception a failed run reported, if it reported one."""
    if result.ok:
        return None
    if plan.engine == "codon":
        return parse_codon_exception(result.stderr)
    return parse_python_exception(result.stderr)


def describe_ending(
    result: ProcessResult, limits: Limits, exception_name: str | None = None
) -> str:
    """One line saying how a run ended, for the user.

    ``exception_name`` is the uncaught exception the program reported, if any:
    Codon aborts on one, and "killed by SIGABRT" alone would read as a crash.
    """
    if result.timed_out:
        return f"killed after the time limit of {limits.timeout_s:g} s"
    if result.cancelled:
        return "cancelled"
    if exception_name is not None and not ran_out_of_memory(result, limits):
        return (
            f"stopped by an uncaught {exception_name}"
            f" (exit status {exit_status(result)})"
        )
    if result.signal is not None:
        ending = describe_signal(result.signal)
    else:
        ending = f"exited with status {result.exit_code}"
    if ran_out_of_memory(result, limits) and limits.memory_bytes is not None:
        mib = limits.memory_bytes // (1024 * 1024)
        ending += (
            f" after running out of memory under the limit of {mib} MiB"
            " (codon.limits.memoryMb, or --memory-mb)"
        )
    return ending


def exit_status(result: ProcessResult) -> int:
    """The shell-style status of a run: the exit code, or 128 + the signal."""
    if result.signal is not None:
        return 128 + result.signal
    return result.exit_code if result.exit_code is not None else 1
