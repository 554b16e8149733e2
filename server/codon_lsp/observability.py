"""What the server tells about itself: log events, metrics and backend reports.

``Observability`` is the one observer of compile records. ``observe`` logs the
record's event, counts it in the metrics and hands it to the GraphMemory-IDE
reporter, which delivers in the background; it never waits on the network or
the disk. With no ``telemetry.url`` there is no reporter at all: no thread, no
SQLite file.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import platformdirs
import structlog

from codon_lsp.compile_record import CompileRecord
from codon_lsp.metrics import CodonMetrics
from codon_lsp.reporter import DeliveryPolicy, Outbox, Reporter
from codon_lsp.reporter.auth import ReporterConfigError
from codon_lsp.reporter.events import log_event_name
from codon_lsp.settings import Settings, TelemetrySettings

log = structlog.get_logger("codon")

OUTBOX_FILE = "outbox.sqlite3"

_QUIET_EVENTS = frozenset({"compile.finished"})


def default_state_dir() -> Path:
    """The user's state folder for codon-lsp (the outbox lives there)."""
    return Path(platformdirs.user_state_dir("codon-lsp"))


class Observability:
    """Logs, metrics and reporting of one server run."""

    def __init__(
        self,
        *,
        session_id: str,
        state_dir: Path | None = None,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.session_id = session_id
        self.metrics = CodonMetrics()
        self._state_dir = state_dir
        self._policy = policy
        self._reporter: Reporter | None = None
        self._telemetry: TelemetrySettings | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        session_id: str,
        state_dir: Path | None = None,
        policy: DeliveryPolicy | None = None,
    ) -> Observability:
        """Build from settings: the metrics endpoint and the reporter if asked for."""
        observability = cls(session_id=session_id, state_dir=state_dir, policy=policy)
        observability.apply_settings(settings)
        return observability

    @property
    def outbox_path(self) -> Path:
        """Where the outbox file is (or would be)."""
        return (self._state_dir or default_state_dir()) / OUTBOX_FILE

    @property
    def reporting(self) -> bool:
        """Whether a reporter is running."""
        return self._reporter is not None

    def observe(self, record: CompileRecord) -> None:
        """Log, count and report one finished compilation or run."""
        fields = record.fields()
        event = log_event_name(record)
        if event in _QUIET_EVENTS or record.outcome == "cancelled":
            log.info(event, **fields)
        else:
            log.warning(event, **fields)
        self.metrics.record_compile(record)
        if self._reporter is not None:
            self._reporter.enqueue(record, {"event": event, **fields})

    def started(self, path: str, kind: str) -> None:
        """Log that a compilation or run started."""
        log.info("compile.started", path=path, kind=kind)

    def set_diagnostic_counts(self, counts: dict[str, int]) -> None:
        """Diagnostics currently shown, by severity name (error, warning, ...)."""
        self.metrics.set_diagnostic_counts(counts)

    def fallback_applied(self, kind: str, path: str) -> None:
        """Log and count a CPython fallback."""
        log.info("fallback.applied", kind=kind, path=path)
        self.metrics.fallbacks.labels(kind=kind).inc()

    def metrics_snapshot(self) -> dict[str, Any]:
        """Current metric values, JSON-able (for ``codon.showMetrics``)."""
        return {
            "metrics": self.metrics.snapshot(),
            "reporting": self.reporting,
            "metricsPort": self.metrics.endpoint_port,
        }

    def dead_letters(self) -> list[dict[str, Any]]:
        """Events the backend would not take, with the reason."""
        try:
            return self._read_dead_letters()
        except (sqlite3.Error, OSError) as error:
            log.error("reporter.outbox_unavailable", error=str(error))
            return []

    def _read_dead_letters(self) -> list[dict[str, Any]]:
        if self._reporter is not None:
            return self._reporter.outbox.dead_letters()
        if not self.outbox_path.exists():
            return []
        outbox = Outbox(self.outbox_path, max_events=1)
        try:
            return outbox.dead_letters()
        finally:
            outbox.close()

    def retry_dead_letters(self) -> int:
        """Queue every dead letter again; return how many."""
        try:
            count = self._requeue_dead_letters()
        except (sqlite3.Error, OSError) as error:
            log.error("reporter.outbox_unavailable", error=str(error))
            return 0
        self.metrics.dead_letters.set(len(self.dead_letters()))
        log.info("reporter.dead_letters_requeued", events=count)
        return count

    def _requeue_dead_letters(self) -> int:
        if self._reporter is not None:
            count = self._reporter.outbox.retry_dead_letters()
            self._reporter.wake()
        elif self.outbox_path.exists():
            outbox = Outbox(self.outbox_path, max_events=1)
            try:
                count = outbox.retry_dead_letters()
            finally:
                outbox.close()
        else:
            count = 0
        return count

    def apply_settings(self, settings: Settings) -> None:
        """Follow changed settings: the metrics endpoint and the reporter."""
        self._apply_metrics_endpoint(settings)
        if settings.telemetry != self._telemetry:
            self._telemetry = settings.telemetry
            self._restart_reporter(settings.telemetry)

    def _apply_metrics_endpoint(self, settings: Settings) -> None:
        try:
            self.metrics.serve(settings.metrics.host, settings.metrics.port)
        except OSError as error:
            log.error(
                "metrics.endpoint_failed",
                host=settings.metrics.host,
                port=settings.metrics.port,
                error=str(error),
            )
            return
        if settings.metrics.port is not None:
            log.info(
                "metrics.serving",
                host=settings.metrics.host,
                port=self.metrics.endpoint_port,
            )

    def _retire_reporter(self) -> None:
        retired, self._reporter = self._reporter, None
        if retired is None:
            return
        try:
            retired.close()
        except (sqlite3.Error, OSError) as error:
            log.error("reporter.outbox_unavailable", error=str(error))

    def _restart_reporter(self, telemetry: TelemetrySettings) -> None:
        self._retire_reporter()
        if telemetry.url is None:
            return
        try:
            outbox = Outbox(self.outbox_path, max_events=telemetry.outbox_max_events)
        except (sqlite3.Error, OSError) as error:
            log.error("reporter.outbox_unavailable", error=str(error))
            return
        try:
            reporter = Reporter(
                telemetry=telemetry,
                session_id=self.session_id,
                outbox=outbox,
                metrics=self.metrics,
                policy=self._policy,
            )
        except ReporterConfigError as error:
            outbox.close()
            log.error("reporter.config_invalid", error=str(error))
            return
        reporter.start()
        self._reporter = reporter

    def close(self) -> None:
        """Stop the reporter (flushing for a short while) and the endpoint."""
        self._retire_reporter()
        self.metrics.stop_serving()

    async def aclose(self) -> None:
        """``close`` without blocking the event loop."""
        await asyncio.to_thread(self.close)
