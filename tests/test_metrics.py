"""Prometheus metrics, read back through prometheus-client's own parser."""

from __future__ import annotations

import json
import math
from pathlib import Path

import httpx
from codon_lsp.compile_record import CompileRecord
from codon_lsp.metrics import EXPORTED_METRICS, CodonMetrics
from codon_lsp.observability import Observability
from codon_lsp.settings import MetricsSettings, Settings
from graphmemory_backend import free_port
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def record(
    kind: str, outcome: str, duration_s: float, peak: int | None
) -> CompileRecord:
    return CompileRecord(
        path="/p/a.py",
        kind=kind,  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        duration_s=duration_s,
        peak_memory_bytes=peak,
        codon_version="0.19.3",
    )


def test_compilations_durations_memory_diagnostics_and_fallbacks() -> None:
    observability = Observability.from_settings(Settings(), session_id="s")
    observability.observe(record("check", "ok", 1.7, 300_000_000))
    observability.observe(record("check", "error", 0.05, 250_000_000))
    observability.observe(record("build", "timeout", 95.0, None))
    observability.set_diagnostic_counts({"error": 2, "warning": 1})
    observability.fallback_applied("auto_python", "/p/a.py")

    text = generate_latest(observability.metrics.registry).decode()
    values = samples(text)
    total = "codon_compilations_total"
    assert values[(total, (("kind", "check"), ("outcome", "ok")))] == 1
    assert values[(total, (("kind", "check"), ("outcome", "error")))] == 1
    assert values[(total, (("kind", "build"), ("outcome", "timeout")))] == 1
    assert values[(total, (("kind", "run"), ("outcome", "crash")))] == 0
    bucket = "codon_compilation_duration_seconds_bucket"
    assert values[(bucket, (("kind", "check"), ("le", "0.1")))] == 1
    assert values[(bucket, (("kind", "check"), ("le", "2.0")))] == 2
    assert values[(bucket, (("kind", "build"), ("le", "90.0")))] == 0
    assert values[(bucket, (("kind", "build"), ("le", "120.0")))] == 1
    memory = "codon_compiler_peak_memory_bytes"
    assert values[(memory, (("kind", "check"),))] == 250_000_000
    assert (memory, (("kind", "build"),)) not in values
    assert values[("codon_diagnostics", (("severity", "error"),))] == 2
    assert values[("codon_diagnostics", (("severity", "hint"),))] == 0
    assert values[("codon_fallbacks_total", (("kind", "auto_python"),))] == 1
    assert values[("codon_reporter_queue_depth", ())] == 0

    observability.set_diagnostic_counts({"warning": 4})
    values = samples(generate_latest(observability.metrics.registry).decode())
    assert values[("codon_diagnostics", (("severity", "error"),))] == 0
    assert values[("codon_diagnostics", (("severity", "warning"),))] == 4


def test_every_exported_family_is_listed_and_documented() -> None:
    metrics = CodonMetrics()
    names = {
        family.name
        for family in text_string_to_metric_families(
            generate_latest(metrics.registry).decode()
        )
        if not family.name.endswith("_created")
    }
    # The parser names counters without their _total suffix.
    listed = {name.removesuffix("_total") for name in EXPORTED_METRICS}
    assert names == listed
    docs = (Path(__file__).parents[1] / "docs" / "observability.md").read_text()
    for name in EXPORTED_METRICS:
        assert f"`{name}`" in docs


def test_snapshot_is_json_and_matches_the_registry() -> None:
    observability = Observability.from_settings(Settings(), session_id="s")
    observability.observe(record("run", "crash", 3.0, 1_000))

    snapshot = json.loads(json.dumps(observability.metrics_snapshot()))
    assert snapshot["reporting"] is False and snapshot["metricsPort"] is None
    crashes = [
        s
        for s in snapshot["metrics"]["codon_compilations_total"]
        if s["labels"] == {"kind": "run", "outcome": "crash"}
    ]
    assert crashes == [{"labels": {"kind": "run", "outcome": "crash"}, "value": 1.0}]
    infinite = [
        s["value"]
        for s in snapshot["metrics"]["codon_compilation_duration_seconds_bucket"]
        if s["labels"] == {"kind": "run", "le": "+Inf"}
    ]
    assert infinite == [1.0] and not math.isnan(infinite[0])


def test_http_endpoint_only_when_asked_and_on_loopback() -> None:
    observability = Observability.from_settings(Settings(), session_id="s")
    assert observability.metrics.endpoint_port is None

    port = free_port()
    observability.apply_settings(Settings(metrics=MetricsSettings(port=port)))
    try:
        observability.observe(record("check", "ok", 1.0, 10))
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert response.status_code == 200
        values = samples(response.text)
        assert (
            values[("codon_compilations_total", (("kind", "check"), ("outcome", "ok")))]
            == 1
        )
        server = observability.metrics._endpoint
        assert server is not None and server[0].server_address[0] == "127.0.0.1"
    finally:
        observability.apply_settings(Settings())
    assert observability.metrics.endpoint_port is None
    try:
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
        raise AssertionError("the endpoint still answers")
    except httpx.ConnectError:
        pass
    observability.close()
