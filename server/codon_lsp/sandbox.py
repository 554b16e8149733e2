"""Starting programs (the compiler, compiled programs, CPython) inside limits.

Every child runs without a shell, in its own process group (so that a kill
reaches whatever it started), with resource limits applied before it executes,
an environment stripped of our secrets, and bounded output. Its peak memory is
read from the kernel's resource usage when it is reaped.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import resource
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

OutputCallback = Callable[[Literal["stdout", "stderr"], str], None]

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
"""Variables that cap the threads of OpenMP (Codon's ``@par``) and BLAS pools."""

_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE|AUTH", re.IGNORECASE
)
_READ_CHUNK = 65536


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one child may use."""

    timeout_s: float
    memory_bytes: int | None = None
    threads: int | None = None
    max_output_bytes: int = 4_000_000


@dataclass(frozen=True, kw_only=True)
class ProcessResult:
    """How a child ended and what it printed."""

    argv: tuple[str, ...]
    exit_code: int | None
    """The exit status, or None when a signal ended the child."""
    signal: int | None
    """The signal that ended the child, if one did."""
    stdout: str
    stderr: str
    timed_out: bool
    cancelled: bool
    output_truncated: bool
    duration_s: float
    peak_memory_bytes: int | None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    @property
    def signal_name(self) -> str | None:
        if self.signal is None:
            return None
        try:
            return signal.Signals(self.signal).name
        except ValueError:
            return f"signal {self.signal}"


class SandboxError(Exception):
    """A program could not be started at all (missing, not executable, bad folder)."""


def clean_environment(
    extra: Mapping[str, str] | None = None, threads: int | None = None
) -> dict[str, str]:
    """Our environment without secrets, with thread caps and ``extra`` on top."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not _SECRET_NAME.search(name) and not name.startswith("CODON_LSP_")
    }
    if threads is not None:
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    if extra:
        env.update(extra)
    return env


def _limit_child(memory_bytes: int | None) -> Callable[[], None]:
    def apply() -> None:
        # No core files: a crashing compiler would otherwise leave gigabytes.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return apply


class SandboxedProcess:
    """A started child; ``wait`` reaps it, ``kill`` ends its whole process group."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        limits: Limits,
        env: Mapping[str, str] | None = None,
        stdin_data: bytes | None = None,
        on_output: OutputCallback | None = None,
    ) -> None:
        self.argv = tuple(argv)
        self._limits = limits
        self._on_output = on_output
        self._kill_reason: Literal["timeout", "cancel"] | None = None
        self._lock = threading.Lock()
        self._reaped = False
        self._kept = {"stdout": bytearray(), "stderr": bytearray()}
        self._kept_total = 0
        self._truncated = False
        self._started = time.monotonic()
        try:
            self._popen = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=dict(env) if env is not None else clean_environment(),
                stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=_limit_child(limits.memory_bytes),
                close_fds=True,
            )
        except OSError as error:
            raise SandboxError(
                f"cannot start {self.argv[0]}: {error.strerror}"
            ) from error
        self.pid = self._popen.pid
        self._readers = [
            threading.Thread(
                target=self._pump, args=(name, stream), daemon=True, name=f"pump-{name}"
            )
            for name, stream in (
                ("stdout", self._popen.stdout),
                ("stderr", self._popen.stderr),
            )
        ]
        for reader in self._readers:
            reader.start()
        if stdin_data is not None:
            threading.Thread(target=self._feed, args=(stdin_data,), daemon=True).start()

    def _feed(self, data: bytes) -> None:
        assert self._popen.stdin is not None
        with contextlib.suppress(OSError):
            self._popen.stdin.write(data)
            self._popen.stdin.close()

    def _pump(
        self, name: Literal["stdout", "stderr"], stream: IO[bytes] | None
    ) -> None:
        assert stream is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := stream.read1(_READ_CHUNK):  # type: ignore[attr-defined]
            with self._lock:
                room = self._limits.max_output_bytes - self._kept_total
                kept = chunk[: max(room, 0)]
                if len(kept) < len(chunk):
                    self._truncated = True
                self._kept[name] += kept
                self._kept_total += len(kept)
            if kept and self._on_output is not None:
                self._on_output(name, decoder.decode(kept))
        stream.close()

    def kill(self, reason: Literal["timeout", "cancel"] = "cancel") -> None:
        """Kill the child's process group; safe to call at any time, repeatedly."""
        with self._lock:
            if self._reaped:
                return
            if self._kill_reason is None:
                self._kill_reason = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def wait(self) -> ProcessResult:
        """Block until the child ends (or its time runs out) and describe how."""
        timer = threading.Timer(self._limits.timeout_s, self.kill, args=("timeout",))
        timer.daemon = True
        timer.start()
        try:
            _, status, usage = os.wait4(self.pid, 0)
        finally:
            timer.cancel()
        with self._lock:
            self._reaped = True
            # Popen must not reap again: the pid may already belong to someone else.
            self._popen.returncode = os.waitstatus_to_exitcode(status)
        # Grandchildren that outlived the child may still hold the pipes open.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        for reader in self._readers:
            reader.join()
        return self._result(status, usage)

    def _result(self, status: int, usage: resource.struct_rusage) -> ProcessResult:
        signalled = os.WIFSIGNALED(status)
        return ProcessResult(
            argv=self.argv,
            exit_code=None if signalled else os.WEXITSTATUS(status),
            signal=os.WTERMSIG(status) if signalled else None,
            stdout=self._kept["stdout"].decode("utf-8", errors="replace"),
            stderr=self._kept["stderr"].decode("utf-8", errors="replace"),
            timed_out=self._kill_reason == "timeout",
            cancelled=self._kill_reason == "cancel",
            output_truncated=self._truncated,
            duration_s=time.monotonic() - self._started,
            # ru_maxrss is in KiB on Linux.
            peak_memory_bytes=usage.ru_maxrss * 1024 if usage.ru_maxrss else None,
        )


def run_sandboxed(
    argv: Sequence[str],
    *,
    cwd: Path,
    limits: Limits,
    env: Mapping[str, str] | None = None,
    stdin_data: bytes | None = None,
    on_output: OutputCallback | None = None,
) -> ProcessResult:
    """Start a child within ``limits`` and wait for it, blocking."""
    process = SandboxedProcess(
        argv,
        cwd=cwd,
        limits=limits,
        env=env,
        stdin_data=stdin_data,
        on_output=on_output,
    )
    return process.wait()


async def run_sandboxed_async(
    argv: Sequence[str],
    *,
    cwd: Path,
    limits: Limits,
    env: Mapping[str, str] | None = None,
    stdin_data: bytes | None = None,
    on_output: OutputCallback | None = None,
) -> ProcessResult:
    """Like ``run_sandboxed``; cancelling the awaiting task kills the child's group."""
    process = SandboxedProcess(
        argv,
        cwd=cwd,
        limits=limits,
        env=env,
        stdin_data=stdin_data,
        on_output=on_output,
    )
    return await wait_cancellable(process)


async def wait_cancellable(process: SandboxedProcess) -> ProcessResult:
    """Wait for ``process`` off the event loop; a cancel kills it and reaps it."""
    waiting = asyncio.ensure_future(asyncio.to_thread(process.wait))
    try:
        return await asyncio.shield(waiting)
    except asyncio.CancelledError:
        process.kill("cancel")
        # Reap it before letting the cancel through: no child may outlive us.
        await waiting
        raise
