"""The Grafana dashboard and the Prometheus alerting rules shipped in docs/.

Every query may name only metrics we export; the rules must load in promtool
and fire when they should (promtool comes with Debian's ``prometheus`` package;
without it those two tests are skipped and say so).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from codon_lsp.metrics import EXPORTED_METRICS

DOCS = Path(__file__).parents[1] / "docs"
DASHBOARD = DOCS / "grafana-dashboard.json"
ALERTS = DOCS / "prometheus-alerts.yml"

PROMQL_WORDS = frozenset(
    {
        "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring",
        "group_left", "group_right", "and", "or", "unless", "bool", "offset",
        "rate", "irate", "increase", "delta", "deriv", "histogram_quantile",
        "max_over_time", "min_over_time", "avg_over_time", "changes", "clamp_min",
        "clamp_max", "topk", "bottomk", "abs", "le",
    }
)  # fmt: skip
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """Identifiers of a PromQL expression that name metrics."""
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range durations
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\$\w+", "", expr)  # Grafana variables
    words = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {word for word in words if word not in PROMQL_WORDS}


def exported(name: str) -> bool:
    if name in EXPORTED_METRICS:
        return True
    return any(
        name.endswith(suffix) and name.removesuffix(suffix) in EXPORTED_METRICS
        for suffix in HISTOGRAM_SUFFIXES
    )


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def test_dashboard_queries_name_only_exported_metrics() -> None:
    queries = dashboard_queries()
    named = set().union(*(metric_names(query) for query in queries))
    assert named, "the dashboard has queries"
    assert {name for name in named if not exported(name)} == set()


def test_dashboard_shows_what_a_team_needs() -> None:
    text = " ".join(dashboard_queries())
    for needed in (
        "codon_compilations_total",
        "histogram_quantile",
        "codon_compiler_peak_memory_bytes",
        "codon_reporter_queue_depth",
        "codon_reporter_dead_letters",
        "codon_reporter_delivery_failures_total",
    ):
        assert needed in text


def test_alert_rules_parse_and_name_only_exported_metrics() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "CodonCompilerFailuresSpiking",
        "CodonReporterDeadLettersGrowing",
    }
    for rule in rules:
        assert rule["annotations"]["summary"]
        assert {
            name for name in metric_names(rule["expr"]) if not exported(name)
        } == set()


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool not installed (Debian package: prometheus)")
    return found


def test_promtool_accepts_the_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def summary(alert: str) -> str:
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == alert]
    return json.dumps(rule["annotations"]["summary"])


def test_alerts_fire_on_failures_and_dead_letters(tmp_path: Path) -> None:
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(
        textwrap.dedent(
            f"""\
            rule_files: [{ALERTS}]
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: 'codon_compilations_total{{kind="check",outcome="ok"}}'
                    values: '0+10x40'
                  - series: 'codon_compilations_total{{kind="check",outcome="crash"}}'
                    values: '0+5x40'
                  - series: 'codon_reporter_dead_lettered_total'
                    values: '0 0 0 0 0 0 0 0 0 0 3 3 3 3 3 3 3 3 3 3'
                alert_rule_test:
                  - eval_time: 30m
                    alertname: CodonCompilerFailuresSpiking
                    exp_alerts:
                      - exp_labels: {{severity: warning}}
                        exp_annotations:
                          summary: {summary("CodonCompilerFailuresSpiking")}
                          description: >-
                            33.33% of compilations in the last 10 minutes ended
                            in a compiler crash or a timeout.
                  - eval_time: 15m
                    alertname: CodonReporterDeadLettersGrowing
                    exp_alerts:
                      - exp_labels: {{severity: warning}}
                        exp_annotations:
                          summary: {summary("CodonReporterDeadLettersGrowing")}
                          description: >-
                            3 compile records moved to the dead-letter table in
                            the last 30 minutes; list them with the
                            codon.listDeadLetters command.
                  - eval_time: 5m
                    alertname: CodonReporterDeadLettersGrowing
                    exp_alerts: []
            """
        )
    )
    result = subprocess.run(
        [promtool(), "test", "rules", str(tests)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
