"""The Prometheus metrics of the server, on a registry of their own.

``CodonMetrics`` owns every metric we export (compilations, diagnostics,
fallbacks, and the GraphMemory-IDE reporter's health) and an optional HTTP
endpoint served by prometheus-client, bound to loopback unless told otherwise.
"""

from __future__ import annotations

import math
import threading
from typing import Any, get_args
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

from codon_lsp.compile_record import CompileKind, CompileRecord, Outcome

DURATION_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    7.5,
    10.0,
    15.0,
    20.0,
    30.0,
    45.0,
    60.0,
    90.0,
    120.0,
)
"""Compile durations resolved from 0.1 s (a cached check) to 2 minutes (a build)."""

SEVERITIES = ("error", "warning", "information", "hint")
"""The LSP diagnostic severities, as ``codon_diagnostics`` labels them."""

FAILURE_REASONS = (
    "connection",
    "timeout",
    "rate_limited",
    "server_error",
    "read_only",
    "unauthorized",
    "rejected",
)
"""Why a delivery attempt to the backend failed."""

EXPORTED_METRICS = (
    "codon_compilations_total",
    "codon_compilation_duration_seconds",
    "codon_compiler_peak_memory_bytes",
    "codon_diagnostics",
    "codon_fallbacks_total",
    "codon_reporter_queue_depth",
    "codon_reporter_dead_letters",
    "codon_reporter_circuit_open",
    "codon_reporter_events_delivered_total",
    "codon_reporter_requests_total",
    "codon_reporter_delivery_failures_total",
    "codon_reporter_dead_lettered_total",
    "codon_reporter_dropped_total",
)
"""Names of the metric families we export (as Prometheus sees them)."""


class CodonMetrics:
    """Every metric of one server, and the endpoint that serves them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._endpoint: tuple[WSGIServer, threading.Thread] | None = None
        self._endpoint_address: tuple[str, int] | None = None
        self._define_compile_metrics()
        self._define_reporter_metrics()
        self._initialise_labels()

    def _define_compile_metrics(self) -> None:
        registry = self.registry
        self.compilations = Counter(
            "codon_compilations",
            "Compilations and runs finished, by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "codon_compilation_duration_seconds",
            "Wall-clock duration of compilations and runs.",
            ["kind"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.peak_memory = Gauge(
            "codon_compiler_peak_memory_bytes",
            "Peak resident memory of the last compiler or program process.",
            ["kind"],
            registry=registry,
        )
        self.diagnostics = Gauge(
            "codon_diagnostics",
            "Diagnostics currently shown in the editor, by severity.",
            ["severity"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "codon_fallbacks",
            "CPython fallbacks applied, by kind.",
            ["kind"],
            registry=registry,
        )

    def _define_reporter_metrics(self) -> None:
        registry = self.registry
        self.queue_depth = Gauge(
            "codon_reporter_queue_depth",
            "Compile records waiting in the outbox for the backend.",
            registry=registry,
        )
        self.dead_letters = Gauge(
            "codon_reporter_dead_letters",
            "Events currently in the dead-letter table.",
            registry=registry,
        )
        self.circuit_open = Gauge(
            "codon_reporter_circuit_open",
            "1 while delivery is paused because the backend keeps failing.",
            registry=registry,
        )
        self.delivered = Counter(
            "codon_reporter_events_delivered",
            "Compile records accepted by the backend.",
            registry=registry,
        )
        self.requests = Counter(
            "codon_reporter_requests",
            "HTTP requests sent to the backend's ingest endpoint.",
            registry=registry,
        )
        self.delivery_failures = Counter(
            "codon_reporter_delivery_failures",
            "Delivery attempts that failed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "codon_reporter_dead_lettered",
            "Compile records moved to the dead-letter table.",
            registry=registry,
        )
        self.dropped = Counter(
            "codon_reporter_dropped",
            "Compile records dropped because the outbox was full.",
            registry=registry,
        )

    def _initialise_labels(self) -> None:
        # Series exist at zero from the start, so rates and alerts see them.
        for kind in get_args(CompileKind):
            self.duration.labels(kind=kind)
            self.fallbacks.labels(kind=kind)
            for outcome in get_args(Outcome):
                self.compilations.labels(kind=kind, outcome=outcome)
        for severity in SEVERITIES:
            self.diagnostics.labels(severity=severity).set(0)
        for reason in FAILURE_REASONS:
            self.delivery_failures.labels(reason=reason)

    def record_compile(self, record: CompileRecord) -> None:
        """Count one finished compilation or run."""
        self.compilations.labels(kind=record.kind, outcome=record.outcome).inc()
        if math.isfinite(record.duration_s) and record.duration_s >= 0:
            # One NaN would turn the histogram's sum into NaN for good.
            self.duration.labels(kind=record.kind).observe(record.duration_s)
        if record.peak_memory_bytes is not None:
            self.peak_memory.labels(kind=record.kind).set(record.peak_memory_bytes)

    def set_diagnostic_counts(self, counts: dict[str, int]) -> None:
        """Set the diagnostics currently shown; severities left out become 0."""
        for severity in SEVERITIES:
            self.diagnostics.labels(severity=severity).set(counts.get(severity, 0))

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """Every sample, grouped by sample name, as JSON-able values."""
        samples: dict[str, list[dict[str, Any]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                samples.setdefault(sample.name, []).append(
                    {"labels": dict(sample.labels), "value": sample.value}
                )
        return samples

    def serve(self, host: str, port: int | None) -> None:
        """Serve /metrics on host:port, or stop serving when port is None."""
        wanted = (host, port) if port is not None else None
        if wanted == self._endpoint_address:
            return
        self.stop_serving()
        if port is None:
            return
        self._endpoint = start_http_server(port, addr=host, registry=self.registry)
        self._endpoint_address = wanted

    @property
    def endpoint_port(self) -> int | None:
        """The port actually bound (useful when 0 asked for any free port)."""
        if self._endpoint is None:
            return None
        return int(self._endpoint[0].server_port)

    def stop_serving(self) -> None:
        """Stop the HTTP endpoint if one runs."""
        if self._endpoint is not None:
            server, thread = self._endpoint
            server.shutdown()
            server.server_close()
            thread.join(timeout=2)
        self._endpoint = None
        self._endpoint_address = None
