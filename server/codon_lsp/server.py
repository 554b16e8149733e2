"""The language server: wires LSP requests to checks, settings and features.

Checks run on open and on save (and, with ``checkOn: change``, on a pause in
typing). Everything that can fail is turned into a log event, a diagnostic or
one message; the server itself keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from codon_lsp import __version__, build_commands, code_actions, run_commands
from codon_lsp.checker import Check, CheckError, CheckRequest, CheckResult
from codon_lsp.compile_record import CompileObserver, CompileRecord
from codon_lsp.diagnostic_store import DiagnosticStore, check_owner
from codon_lsp.logging_setup import configure_logging
from codon_lsp.observability import Observability
from codon_lsp.progress import work_done
from codon_lsp.result_store import RESULTS_FILE, ResultStore, default_cache_dir
from codon_lsp.scheduler import CheckScheduler, Superseded
from codon_lsp.settings import LogLevel, Settings, merge_raw, parse_settings
from codon_lsp.toolchain import CodonNotFound, Toolchain, find_codon
from codon_lsp.uris import path_to_uri, uri_to_path

log = structlog.get_logger("codon")

STATUS_NOTIFICATION = "codon/status"
CONFIGURATION_TIMEOUT_S = 5.0
SENSITIVE_SETTINGS: tuple[tuple[str, str], ...] = (
    ("compiler", "path"),
    ("compiler", "extraArgs"),
    ("python", "interpreter"),
    ("build", "extraArgs"),
)
"""Settings an untrusted workspace may not set: they choose what code runs."""


def without_sensitive(raw: object) -> object:
    """A settings layer with the keys an untrusted workspace may not set removed."""
    if not isinstance(raw, dict):
        return raw
    cleaned = {
        key: dict(value) if isinstance(value, dict) else value
        for key, value in raw.items()
    }
    for section, key in SENSITIVE_SETTINGS:
        part = cleaned.get(section)
        if isinstance(part, dict):
            part.pop(key, None)
    return cleaned


@dataclass(frozen=True, kw_only=True)
class CommandLineOverrides:
    """What the command line says about logging and metrics; it beats settings."""

    log_level: LogLevel | None = None
    log_file: str | None = None
    metrics_port: int | None = None
    stdio: bool = True


class CodonLanguageServer(LanguageServer):
    """pygls server with the state codon-lsp keeps between requests."""

    def __init__(self, overrides: CommandLineOverrides | None = None) -> None:
        super().__init__("codon-lsp", __version__)
        self.overrides = overrides or CommandLineOverrides()
        self.observability: Observability | None = None
        self.trace_verbose = False
        self.trusted = False
        self._initial_settings: object = {}
        self._user_settings: object = {}
        self._pushed_settings: object = {}
        self._settings: dict[str, Settings] = {}
        self._reported: set[str] = set()
        self._toolchains: dict[str | None, Toolchain] = {}
        self._versions: dict[Path, int | None] = {}
        self._debounces: dict[Path, asyncio.Task[None]] = {}
        self.store = DiagnosticStore(self._publish)
        self.scheduler = CheckScheduler(
            max_concurrent=Settings().compiler.max_concurrent,
            on_started=self.check_started,
            store=ResultStore(default_cache_dir() / RESULTS_FILE),
        )
        self.observers: list[CompileObserver] = []
        self.last_check: dict[str, Any] | None = None
        self.codon_version: str | None = None

    @property
    def position_encoding(self) -> str:
        return str(self.workspace.position_encoding or types.PositionEncodingKind.Utf16)

    def _supports(self, getter: Callable[[types.ClientCapabilities], object]) -> bool:
        try:
            return bool(getter(self.client_capabilities))
        except AttributeError:
            return False

    # Settings and toolchain.

    def apply_initialization_options(self, options: object) -> None:
        """Read ``{"settings": {...}, "trusted": bool}`` sent with ``initialize``."""
        if not isinstance(options, dict):
            return
        self.trusted = options.get("trusted") is True
        settings = options.get("settings", {})
        self._initial_settings = settings if isinstance(settings, dict) else {}
        user = options.get("userSettings", self._initial_settings)
        self._user_settings = user if isinstance(user, dict) else {}
        log.info("server.initialized", trusted=self.trusted)

    def observability_settings(self) -> Settings:
        """Settings for logs, metrics and reporting, command-line flags on top.

        An untrusted workspace cannot redirect telemetry, open a port or choose
        the log file: only the user's own settings count there.
        """
        if self.trusted:
            settings, _ = parse_settings(
                merge_raw(self._initial_settings, self._pushed_settings)
            )
        else:
            settings = self.user_settings()
        overrides = self.overrides
        if overrides.metrics_port is not None:
            metrics = dataclasses.replace(settings.metrics, port=overrides.metrics_port)
            settings = dataclasses.replace(settings, metrics=metrics)
        level: LogLevel = overrides.log_level or (
            "debug" if self.trace_verbose else settings.log_level
        )
        return dataclasses.replace(
            settings, log_level=level, log_file=overrides.log_file or settings.log_file
        )

    def start_observability(self) -> None:
        """Configure logs and start metrics and reporting (after ``initialize``)."""
        settings = self.observability_settings()
        configure_logging(
            level=settings.log_level,
            log_file=settings.log_file,
            stdio_mode=self.overrides.stdio,
        )
        if self.observability is None:
            self.observability = Observability.from_settings(
                settings, session_id=uuid.uuid4().hex
            )
            self.observers.append(self.observability.observe)
        else:
            self.observability.apply_settings(settings)

    def settings_changed(self, pushed: object) -> None:
        """A ``didChangeConfiguration`` arrived: forget what we had read."""
        if isinstance(pushed, dict) and isinstance(pushed.get("codon"), dict):
            self._pushed_settings = pushed["codon"]
        self._settings.clear()
        self._toolchains.clear()
        self.start_observability()

    async def settings_for(self, uri: str) -> Settings:
        """The settings that apply to ``uri``: client layers merged, trust applied."""
        if uri in self._settings:
            return self._settings[uri]
        layers: list[object] = [self._initial_settings, self._pushed_settings]
        if self._supports(lambda caps: caps.workspace.configuration):  # type: ignore[union-attr]
            layers.append(await self._configuration(uri))
        if not self.trusted:
            layers = [layers[0], *(without_sensitive(layer) for layer in layers[1:])]
        settings, problems = parse_settings(merge_raw(*layers))
        for problem in problems:
            self.report_once(
                f"codon-lsp settings: {problem}", types.MessageType.Warning
            )
        self._settings[uri] = settings
        self.scheduler.resize(settings.compiler.max_concurrent)
        return settings

    def user_settings(self) -> Settings:
        """Settings from the user's own configuration only, never a workspace's.

        That is ``initializationOptions.userSettings`` when the client sends it
        (the VS Code extension does), else ``initializationOptions.settings``.
        """
        settings, _ = parse_settings(self._user_settings)
        return settings

    async def _configuration(self, uri: str) -> object:
        params = types.ConfigurationParams(
            items=[types.ConfigurationItem(scope_uri=uri, section="codon")]
        )
        try:
            answer = await asyncio.wait_for(
                self.workspace_configuration_async(params), CONFIGURATION_TIMEOUT_S
            )
        except Exception as error:
            log.warning("settings.configuration_failed", error=str(error))
            return {}
        return answer[0] if answer else {}

    def toolchain_for(self, settings: Settings) -> Toolchain:
        """The compiler these settings select (raises CodonNotFound)."""
        key = settings.compiler.path
        if key not in self._toolchains:
            self._toolchains[key] = find_codon(key)
        toolchain = self._toolchains[key]
        self.codon_version = toolchain.version_text
        return toolchain

    # Messages, status and publishing.

    def report_once(self, message: str, kind: types.MessageType) -> None:
        """Log always; show the user a given message only once per session."""
        log.warning("server.message", text=message)
        if message in self._reported:
            return
        self._reported.add(message)
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def send_status(self, state: str, error: str | None = None) -> None:
        self.protocol.notify(
            STATUS_NOTIFICATION,
            {
                "state": state,
                "codonVersion": self.codon_version,
                "lastCheck": self.last_check,
                "error": error,
            },
        )

    def _publish(self, path: Path, diagnostics: list[types.Diagnostic]) -> None:
        uri = path_to_uri(path)
        version = self._versions.get(path)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, diagnostics=diagnostics, version=version
            )
        )

    def publish_extra_diagnostics(
        self, owner: str, path: Path, diagnostics: list[types.Diagnostic]
    ) -> None:
        """Show another producer's diagnostics (a run, a build) beside the check's."""
        self.store.set(owner, path.resolve(), diagnostics)

    def observe(self, record: CompileRecord) -> None:
        """Hand a finished compilation to every observer; none may break a check."""
        for observer in self.observers:
            try:
                observer(record)
            except Exception as error:
                log.error("observer.failed", error=repr(error))

    # Checks.

    def document_opened(self, path: Path, version: int | None) -> None:
        self._versions[path] = version

    def cancel_debounce(self, path: Path) -> None:
        """Drop a pending check of the unsaved buffer (a save or close came first)."""
        debounce = self._debounces.pop(path, None)
        if debounce is not None:
            debounce.cancel()

    def document_closed(self, path: Path) -> None:
        self.scheduler.cancel(path)
        self.cancel_debounce(path)
        self._versions.pop(path, None)
        self.store.clear_owner(check_owner(path))
        self.store.forget_file(path)

    def schedule_change_check(self, uri: str, path: Path, delay_s: float) -> None:
        """Check the unsaved buffer once typing pauses for ``delay_s``."""
        self.cancel_debounce(path)

        async def later() -> None:
            await asyncio.sleep(delay_s)
            document = self.workspace.get_text_document(uri)
            await self.check_document(
                uri, unsaved_source=document.source.encode("utf-8")
            )

        self._debounces[path] = asyncio.get_running_loop().create_task(later())

    async def check_document(
        self, uri: str, unsaved_source: bytes | None = None
    ) -> None:
        """Check one document and publish what the compiler said; never raises."""
        path = uri_to_path(uri)
        if path is None:
            return
        path = path.resolve()
        settings = await self.settings_for(uri)
        try:
            toolchain = self.toolchain_for(settings)
        except CodonNotFound as error:
            self.report_once(str(error), types.MessageType.Error)
            self.send_status("missing", error=str(error))
            return

        document = self.workspace.get_text_document(uri)
        version = document.version
        request = CheckRequest(
            path=path,
            toolchain=toolchain,
            compiler=settings.compiler,
            encoding=self.position_encoding,
            unsaved_source=unsaved_source,
        )
        async with work_done(self, f"Checking {path.name}"):
            try:
                result = await self.scheduler.check(request)
            except Superseded:
                return
            except CheckError as error:
                log.warning("check.unreadable", path=str(path), error=str(error))
                self.report_once(f"codon-lsp: {error}", types.MessageType.Warning)
                return
            except Exception as error:
                log.exception("check.failed", path=str(path))
                self.report_once(
                    f"codon-lsp: check of {path.name} failed: {error}",
                    types.MessageType.Error,
                )
                return
        self._deliver(uri, path, version, result)

    def _deliver(
        self, uri: str, path: Path, version: int | None, result: CheckResult
    ) -> None:
        self._versions[path] = version
        for other in result.diagnostics:
            if other != path and other not in self._versions:
                self._versions[other] = None
        # A save makes the last run's and build's findings stale.
        self.store.clear_owner("run")
        self.store.clear_owner("build")
        self.store.replace(check_owner(path), result.diagnostics)
        if not result.from_cache:
            self.observe(result.record)
        self.last_check = {
            "uri": uri,
            "durationS": result.record.duration_s,
            "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "outcome": result.record.outcome,
            "cached": result.from_cache,
        }
        self.send_status("idle")

    async def recheck_open_documents(self) -> None:
        """Check every open document again (the settings changed)."""
        uris = [path_to_uri(path) for path in self._versions]
        open_uris = [uri for uri in uris if uri in self.workspace.text_documents]
        await asyncio.gather(*(self.check_document(uri) for uri in open_uris))

    def check_started(self, check: Check) -> None:
        if self.observability is not None:
            self.observability.started(str(check.target), "check")
        self.send_status("checking")


def create_server(overrides: CommandLineOverrides | None = None) -> CodonLanguageServer:
    """A server with every feature registered."""
    server = CodonLanguageServer(overrides)
    build_commands.register(server)
    code_actions.register(server)
    run_commands.register(server)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CodonLanguageServer, params: types.InitializeParams) -> None:
        ls.apply_initialization_options(params.initialization_options)
        ls.trace_verbose = params.trace == types.TraceValue.Verbose
        ls.start_observability()

    @server.feature(types.SET_TRACE)
    def set_trace(ls: CodonLanguageServer, params: types.SetTraceParams) -> None:
        ls.trace_verbose = params.value == types.TraceValue.Verbose
        ls.start_observability()

    @server.command("codon.showMetrics")
    def show_metrics(ls: CodonLanguageServer, *args: Any) -> dict[str, Any]:
        return ls.observability.metrics_snapshot() if ls.observability else {}

    @server.command("codon.listDeadLetters")
    def list_dead_letters(ls: CodonLanguageServer, *args: Any) -> list[dict[str, Any]]:
        return ls.observability.dead_letters() if ls.observability else []

    @server.command("codon.retryDeadLetters")
    def retry_dead_letters(ls: CodonLanguageServer, *args: Any) -> int:
        return ls.observability.retry_dead_letters() if ls.observability else 0

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(
        ls: CodonLanguageServer, params: types.DidOpenTextDocumentParams
    ) -> None:
        path = uri_to_path(params.text_document.uri)
        if path is not None:
            ls.document_opened(path.resolve(), params.text_document.version)
            await ls.check_document(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    async def did_save(
        ls: CodonLanguageServer, params: types.DidSaveTextDocumentParams
    ) -> None:
        path = uri_to_path(params.text_document.uri)
        if path is not None:
            ls.cancel_debounce(path.resolve())
        await ls.check_document(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(
        ls: CodonLanguageServer, params: types.DidChangeTextDocumentParams
    ) -> None:
        uri = params.text_document.uri
        path = uri_to_path(uri)
        if path is None:
            return
        settings = await ls.settings_for(uri)
        if settings.check_on == "change":
            ls.schedule_change_check(uri, path.resolve(), settings.debounce_ms / 1000)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(
        ls: CodonLanguageServer, params: types.DidCloseTextDocumentParams
    ) -> None:
        path = uri_to_path(params.text_document.uri)
        if path is not None:
            ls.document_closed(path.resolve())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: CodonLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.settings_changed(params.settings)
        await ls.recheck_open_documents()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: CodonLanguageServer, params: None) -> None:
        await ls.scheduler.shutdown()
        if ls.observability is not None:
            await ls.observability.aclose()

    return server
