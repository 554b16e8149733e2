"""Build and scan reports: text for people, JSON for machines.

Both forms carry the same facts: how the build ended, the artifact's path,
size, SHA-256 and mode, the build time, compiler diagnostics, and every scan
finding with its severity and whether the scan policy failed on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lsprotocol.types import Diagnostic, DiagnosticSeverity

from codon_lsp.binary_scan import Finding, ScanResult
from codon_lsp.build_pipeline import BuildResult
from codon_lsp.check_command import diagnostic_json

COMPILER_OUTPUT_LINES = 40
"""Lines of raw compiler output a text report shows when no diagnostic explains
the failure (a link error, a crash)."""

_SEVERITY_NAMES = {
    DiagnosticSeverity.Error: "error",
    DiagnosticSeverity.Warning: "warning",
    DiagnosticSeverity.Information: "info",
    DiagnosticSeverity.Hint: "hint",
}


def build_json(result: BuildResult) -> dict[str, Any]:
    """The build report as plain JSON values."""
    failed_ids = {item.id for item in result.policy_failures}
    return {
        "status": result.status,
        "ok": result.ok,
        "detail": result.detail,
        "source": str(result.source),
        "artifact": str(result.artifact) if result.sha256 else None,
        "kind": result.kind,
        "release": result.release,
        "codonVersion": result.codon_version,
        "argv": list(result.argv),
        "buildTimeS": round(result.build_time_s, 3),
        "totalTimeS": round(result.total_time_s, 3),
        "sourceSizeBytes": result.source_size_bytes,
        "sizeBytes": result.size_bytes,
        "sha256": result.sha256,
        "mode": f"{result.mode:04o}" if result.mode is not None else None,
        "diagnostics": list(_diagnostics_json(result.diagnostics)),
        "compilerOutput": result.compiler_output if not result.ok else None,
        "scan": result.scan.to_json() if result.scan else None,
        "policyFailures": sorted(failed_ids),
    }


def scan_json(scan: ScanResult, failed: Iterable[Finding] = ()) -> dict[str, Any]:
    """The scan report as plain JSON values, with the ids the policy failed on."""
    return {**scan.to_json(), "policyFailures": sorted({item.id for item in failed})}


def render_json(report: Mapping[str, Any]) -> str:
    """A JSON report as text, stable key order, one trailing newline."""
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def build_text(result: BuildResult) -> str:
    """The build report for people."""
    headline = f"build {result.status}"
    if result.detail:
        headline += f": {result.detail}"
    lines = [headline]
    lines += _field_lines(
        [
            ("source", f"{result.source} ({result.source_size_bytes} bytes)"),
            ("kind", f"{result.kind}, {'release' if result.release else 'debug'}"),
            ("codon", result.codon_version),
            ("build time", f"{result.build_time_s:.2f} s"),
        ]
    )
    if result.sha256 is not None:
        lines += _field_lines(
            [
                ("artifact", str(result.artifact)),
                ("size", f"{result.size_bytes} bytes"),
                ("sha256", result.sha256),
                ("mode", f"{result.mode:04o}" if result.mode is not None else "-"),
            ]
        )
    lines += list(_diagnostic_lines(result.diagnostics))
    if not result.ok and not _has_errors(result.diagnostics):
        tail = result.compiler_output.rstrip().splitlines()[-COMPILER_OUTPUT_LINES:]
        if tail:
            lines.append("compiler output:")
            lines += [f"  {line}" for line in tail]
    if result.scan is not None:
        failed = {item.id for item in result.policy_failures}
        lines += _finding_lines(result.scan.findings, failed)
    return "\n".join(lines) + "\n"


def scan_text(scan: ScanResult, failed: Iterable[Finding] = ()) -> str:
    """The scan report for people: the properties, then the findings."""
    lines = [f"scan of {scan.path}"]
    lines += _field_lines(
        [
            ("type", f"{scan.elf_kind} ({scan.machine})"),
            ("PIE", _yes_no(scan.pie)),
            ("NX stack", _yes_no(scan.nx_stack)),
            ("RELRO", scan.relro or "n/a"),
            ("stack protector", _yes_no(scan.stack_protector)),
            ("FORTIFY", ", ".join(scan.fortified) or "no"),
            ("RPATH", ":".join(scan.rpath) or "-"),
            ("RUNPATH", ":".join(scan.runpath) or "-"),
            ("W+X segments", ", ".join(map(str, scan.wx_segments)) or "none"),
            ("stripped", _yes_no(scan.stripped)),
        ]
    )
    for library in scan.needed:
        where = library.resolved or (
            "only in the Codon toolchain" if library.toolchain_only else "not found"
        )
        lines.append(f"  needs {library.name}: {where}")
    failed_ids = {item.id for item in failed}
    lines += _finding_lines(scan.findings, failed_ids)
    if failed_ids:
        lines.append(f"scan policy failed on {', '.join(sorted(failed_ids))}")
    return "\n".join(lines) + "\n"


def _yes_no(value: bool | None) -> str:
    if value is None:
        return "n/a"
    return "yes" if value else "no"


def _field_lines(fields: list[tuple[str, str]]) -> list[str]:
    return [f"  {name + ':':<17}{value}" for name, value in fields]


def _finding_lines(findings: tuple[Finding, ...], failed: set[str]) -> list[str]:
    if not findings:
        return ["findings: none"]
    lines = ["findings:"]
    for item in findings:
        mark = "  FAILS POLICY" if item.id in failed else ""
        lines.append(f"  {item.severity:<8}{item.id:<24}{item.message}{mark}")
    return lines


def _has_errors(diagnostics: Mapping[Path, list[Diagnostic]]) -> bool:
    return any(
        item.severity == DiagnosticSeverity.Error
        for items in diagnostics.values()
        for item in items
    )


def _diagnostic_lines(diagnostics: Mapping[Path, list[Diagnostic]]) -> Iterator[str]:
    for path, items in diagnostics.items():
        for item in items:
            # LSP positions are 0-based; people and compilers count from 1.
            start = item.range.start
            severity = _SEVERITY_NAMES.get(
                item.severity or DiagnosticSeverity.Error, "error"
            )
            yield (
                f"{path}:{start.line + 1}:{start.character + 1}: "
                f"{severity}: {item.message}"
            )


def _diagnostics_json(
    diagnostics: Mapping[Path, list[Diagnostic]],
) -> Iterator[dict[str, Any]]:
    """In the shape ``codon-lsp check --format json`` uses, with the file's path."""
    for path, items in diagnostics.items():
        for item in items:
            yield {"path": str(path), **diagnostic_json(item)}
