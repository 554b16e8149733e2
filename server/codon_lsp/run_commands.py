"""The ``codon.run`` and ``codon.runWithCPython`` editor commands.

Each takes a file URI, runs the file in the sandbox (``program_runner``),
streams its output to the client as ``window/logMessage`` lines while it runs,
and ends with its exit status. A run-time exception becomes a diagnostic of
owner ``run`` on the user's line; a death by signal is said on the file. A
second run of the same file replaces the first; cancelling the command's
work-done progress (or the request) kills the program's process group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import structlog
from lsprotocol import types

from codon_lsp import program_runner, runtime_errors
from codon_lsp.compile_record import CompileRecord, Outcome
from codon_lsp.compiler_output import strip_colour
from codon_lsp.program_runner import RunPlan
from codon_lsp.progress import work_done
from codon_lsp.sandbox import ProcessResult, SandboxedProcess, SandboxError
from codon_lsp.toolchain import CodonNotFound
from codon_lsp.uris import uri_to_path

if TYPE_CHECKING:
    from codon_lsp.server import CodonLanguageServer

log = structlog.get_logger("codon")

RUN_COMMAND = "codon.run"
RUN_WITH_CPYTHON_COMMAND = "codon.runWithCPython"
DIAGNOSTIC_OWNER = "run"


class _LineStream:
    """Chunks of output in, whole lines out (the rest when flushed)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._pending = ""

    def feed(self, text: str) -> None:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._emit(line)

    def flush(self) -> None:
        if self._pending:
            self._emit(self._pending)
            self._pending = ""


def register(server: CodonLanguageServer) -> None:
    """Add ``codon.run`` and ``codon.runWithCPython`` to ``server``."""
    running: dict[Path, SandboxedProcess] = {}

    @server.command(RUN_COMMAND)
    async def run_with_codon(ls: Any, *args: Any) -> dict[str, Any]:
        return await run_in_editor(server, _uri_argument(args), "codon", running)

    @server.command(RUN_WITH_CPYTHON_COMMAND)
    async def run_with_cpython(ls: Any, *args: Any) -> dict[str, Any]:
        return await run_in_editor(server, _uri_argument(args), "python", running)


def _uri_argument(args: tuple[Any, ...]) -> str | None:
    # Clients send the arguments either spread or as one list.
    if len(args) == 1 and isinstance(args[0], list):
        args = tuple(args[0])
    return args[0] if args and isinstance(args[0], str) else None


async def run_in_editor(
    server: CodonLanguageServer,
    uri: str | None,
    engine: program_runner.Engine,
    running: dict[Path, SandboxedProcess],
) -> dict[str, Any]:
    """Run the file behind ``uri``; stream, publish and answer how it ended."""
    path = uri_to_path(uri) if uri else None
    if uri is None or path is None or not path.is_file():
        return _refuse(
            server, f"codon-lsp: run needs the URI of a saved file, got {uri!r}"
        )
    if not server.trusted:
        return _refuse(
            server,
            "codon-lsp: running programs is off in an untrusted workspace; trust the "
            "workspace to run, or use `codon-lsp run` in a terminal",
        )
    path = path.resolve()
    try:
        plan = await _plan(server, uri, path, engine)
    except (CodonNotFound, program_runner.RunError, OSError) as error:
        return _refuse(server, f"codon-lsp run: {error}")

    server.publish_extra_diagnostics(DIAGNOSTIC_OWNER, path, [])
    if (earlier := running.pop(path, None)) is not None:
        earlier.kill("cancel")
    try:
        result = await _run_streaming(server, plan, running)
    except SandboxError as error:
        return _refuse(server, f"codon-lsp run: {error}")
    exception = program_runner.exception_of(plan, result)
    _publish_failure(server, plan, result, exception)
    _report(server, plan, result, exception)
    return _answer(plan, result)


async def _plan(
    server: CodonLanguageServer, uri: str, path: Path, engine: program_runner.Engine
) -> RunPlan:
    settings = await server.settings_for(uri)
    if engine == "python":
        return await asyncio.to_thread(
            program_runner.plan_python_run, path, [], settings
        )
    toolchain = server.toolchain_for(settings)
    return await asyncio.to_thread(
        program_runner.plan_codon_run, toolchain.executable, path, [], settings
    )


async def _run_streaming(
    server: CodonLanguageServer, plan: RunPlan, running: dict[Path, SandboxedProcess]
) -> ProcessResult:
    loop = asyncio.get_running_loop()
    name = plan.file.name

    def emit(kind: types.MessageType, prefix: str) -> Callable[[str], None]:
        def send(line: str) -> None:
            loop.call_soon_threadsafe(_log_message, server, kind, f"{prefix}{line}")

        return send

    streams = {
        "stdout": _LineStream(emit(types.MessageType.Log, f"[{name}] ")),
        "stderr": _LineStream(emit(types.MessageType.Log, f"[{name} stderr] ")),
    }
    for notice in plan.notices:
        server.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=notice)
        )
    _log_message(
        server, types.MessageType.Info, f"codon-lsp: running {' '.join(plan.argv)}"
    )

    async with work_done(server, f"Running {name}", cancellable=True) as work:
        process = program_runner.start(
            plan, lambda stream, text: streams[stream].feed(text)
        )
        running[plan.file] = process
        work.on_cancel(lambda: process.kill("cancel"))
        waiting = asyncio.ensure_future(asyncio.to_thread(process.wait))
        try:
            result = await asyncio.shield(waiting)
        except asyncio.CancelledError:
            process.kill("cancel")
            await waiting
            raise
        finally:
            if running.get(plan.file) is process:
                del running[plan.file]
    for stream in streams.values():
        stream.flush()
    return result


def _log_message(
    server: CodonLanguageServer, kind: types.MessageType, text: str
) -> None:
    # Editors show log messages as plain text: Codon's colour codes would be noise.
    server.window_log_message(
        types.LogMessageParams(type=kind, message=strip_colour(text))
    )


def _publish_failure(
    server: CodonLanguageServer,
    plan: RunPlan,
    result: ProcessResult,
    exception: runtime_errors.RuntimeException | None,
) -> None:
    per_file = runtime_errors.failure_diagnostics(
        result,
        exception,
        target=plan.file,
        is_user=plan.is_user_code,
        encoding=server.position_encoding,
    )
    for path, diagnostics in per_file.items():
        server.publish_extra_diagnostics(DIAGNOSTIC_OWNER, path, diagnostics)


def _outcome(result: ProcessResult) -> Outcome:
    if result.timed_out:
        return "timeout"
    if result.cancelled:
        return "cancelled"
    if result.signal is not None:
        return "crash"
    return "ok" if result.ok else "error"


def _report(
    server: CodonLanguageServer,
    plan: RunPlan,
    result: ProcessResult,
    exception: runtime_errors.RuntimeException | None,
) -> None:
    ending = program_runner.describe_ending(
        result, plan.limits, exception.name if exception else None
    )
    compile_error = program_runner.compile_error_of(plan, result)
    detail = f"{exception.name}: {exception.message}" if exception else ending
    message = f"{plan.file.name} {ending}"
    if exception is not None:
        message += f": {exception.message}"
    elif compile_error is not None:
        detail = compile_error
        message = f"{plan.file.name} did not compile: {compile_error}"
    if result.output_truncated:
        message += " (output beyond the limit was dropped)"
    _log_message(server, types.MessageType.Info, f"codon-lsp: {message}")
    kind = types.MessageType.Info if result.ok else types.MessageType.Error
    server.window_show_message(types.ShowMessageParams(type=kind, message=message))
    log.info(
        "run.finished",
        path=str(plan.file),
        engine=plan.engine,
        exit_code=result.exit_code,
        signal=result.signal_name,
        timed_out=result.timed_out,
        duration_s=round(result.duration_s, 3),
    )
    server.observe(
        CompileRecord(
            path=str(plan.file),
            kind="run",
            outcome=_outcome(result),
            duration_s=result.duration_s,
            peak_memory_bytes=result.peak_memory_bytes,
            codon_version=server.codon_version if plan.engine == "codon" else None,
            errors=0 if result.ok else 1,
            detail=None if result.ok else detail,
        )
    )


def _answer(plan: RunPlan, result: ProcessResult) -> dict[str, Any]:
    status: Literal["ok", "failed", "timeout", "cancelled"] = (
        "ok" if result.ok else "failed"
    )
    if result.timed_out:
        status = "timeout"
    elif result.cancelled:
        status = "cancelled"
    return {
        "status": status,
        "ok": result.ok,
        "engine": plan.engine,
        "file": str(plan.file),
        "exitCode": result.exit_code,
        "signal": result.signal_name,
        "timedOut": result.timed_out,
        "outputTruncated": result.output_truncated,
        "durationS": round(result.duration_s, 3),
    }


def _refuse(server: CodonLanguageServer, message: str) -> dict[str, Any]:
    log.warning("run.refused", reason=message)
    server.window_show_message(
        types.ShowMessageParams(type=types.MessageType.Error, message=message)
    )
    return {"status": "refused", "ok": False, "message": message}
