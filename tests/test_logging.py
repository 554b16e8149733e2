"""Log events: JSON lines in a file, readable lines on stderr, nothing on stdout,
one event per thing that happened, and no secret in any of them."""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from codon_lsp.compile_record import CompileRecord
from codon_lsp.logging_setup import (
    REDACTED,
    configure_logging,
    flush_logs,
    redact_text,
    reset_logging,
)
from codon_lsp.observability import Observability
from codon_lsp.settings import Settings

log = structlog.get_logger("codon")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    reset_logging()


def lines(path: Path) -> list[dict[str, Any]]:
    flush_logs()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_to_the_file_readable_on_stderr_and_nothing_on_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "logs" / "codon-lsp.jsonl"
    configure_logging(level="info", log_file=str(log_file), stdio_mode=True)

    log.info("compile.finished", path="/p/a.py", ok=False, duration_s=1.73)
    logging.getLogger("pygls.protocol").warning("client sent %s", "junk")

    flush_logs()
    out, err = capfd.readouterr()
    assert out == ""
    assert "compile.finished" in err and "duration_s=1.73" in err
    first, second = lines(log_file)
    assert first["event"] == "compile.finished" and first["level"] == "info"
    assert first["path"] == "/p/a.py" and first["ok"] is False
    assert first["duration_s"] == 1.73 and first["logger"] == "codon"
    assert first["timestamp"].endswith("Z")
    assert (
        second["event"] == "client sent junk" and second["logger"] == "pygls.protocol"
    )


def test_calling_again_changes_level_and_file(tmp_path: Path) -> None:
    first_file, second_file = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    configure_logging(level="warning", log_file=str(first_file), stdio_mode=True)
    log.info("hidden.event")
    log.warning("shown.event")
    configure_logging(level="debug", log_file=str(second_file), stdio_mode=True)
    log.debug("debug.event")

    assert [e["event"] for e in lines(first_file)] == ["shown.event"]
    assert [e["event"] for e in lines(second_file)] == ["debug.event"]
    handoffs = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.handlers.QueueHandler)
    ]
    assert len(handoffs) == 1, "reconfiguring replaces, never adds"


def test_secrets_never_reach_a_log_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "codon-lsp.jsonl"
    configure_logging(level="debug", log_file=str(log_file), stdio_mode=True)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"

    log.info(
        "reporter.request",
        token="tok-123",
        password="hunter2",
        headers={"Authorization": f"Bearer {jwt}", "Accept": "json"},
        note=f"sent Authorization: Bearer {jwt} with password=hunter2",
    )
    logging.getLogger("httpx").error("refused token=tok-123")
    try:
        raise RuntimeError(f"backend said no to {jwt}")
    except RuntimeError:
        log.exception("reporter.internal_error")

    flush_logs()
    text = log_file.read_text()
    _, err = capfd.readouterr()
    for secret in ("tok-123", "hunter2", jwt, "eyJzdWIiOiJhbGljZSJ9"):
        assert secret not in text
        assert secret not in err
    first = lines(log_file)[0]
    assert first["token"] == REDACTED and first["password"] == REDACTED
    assert first["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert "RuntimeError" in lines(log_file)[-1]["exception"]


def test_redact_text_keeps_the_rest() -> None:
    assert (
        redact_text("Authorization: Bearer abc.def")
        == f"Authorization: Bearer {REDACTED}"
    )
    assert redact_text("user=alice password=pw1 port=8080") == (
        f"user=alice password={REDACTED} port=8080"
    )
    assert redact_text("compile.finished ok") == "compile.finished ok"


def _record(kind: str, outcome: str, detail: str | None = None) -> CompileRecord:
    return CompileRecord(
        path="/p/main.py",
        kind=kind,  # type: ignore[arg-type]
        outcome=outcome,  # type: ignore[arg-type]
        duration_s=0.5,
        peak_memory_bytes=123_456,
        codon_version="0.19.3",
        errors=1 if outcome == "error" else 0,
        warnings=2,
        detail=detail,
    )


def test_one_event_per_thing_that_happened(tmp_path: Path) -> None:
    log_file = tmp_path / "codon-lsp.jsonl"
    configure_logging(level="info", log_file=str(log_file), stdio_mode=True)
    observability = Observability.from_settings(Settings(), session_id="s")

    observability.started("/p/main.py", "check")
    observability.observe(_record("check", "ok"))
    observability.observe(_record("check", "error"))
    observability.observe(_record("check", "crash", "exit status 134"))
    observability.observe(_record("build", "timeout", "stopped after 30 s"))
    observability.observe(
        _record("run", "error", "IndexError: list index out of range at main.py:3:5")
    )
    observability.fallback_applied("python_decorator", "/p/main.py")

    events = [(e["event"], e) for e in lines(log_file)]
    assert [name for name, _ in events] == [
        "compile.started",
        "compile.finished",
        "compile.finished",
        "compile.crashed",
        "compile.timed_out",
        "run.failed",
        "fallback.applied",
    ]
    finished = events[1][1]
    for field in ("path", "kind", "ok", "duration_s", "peak_memory_bytes"):
        assert field in finished
    assert finished["codon_version"] == "0.19.3" and finished["warnings"] == 2
    assert events[2][1]["ok"] is False and events[2][1]["errors"] == 1
    assert (
        events[3][1]["level"] == "warning"
        and events[3][1]["detail"] == "exit status 134"
    )
    assert events[5][1]["detail"].endswith("main.py:3:5")
    assert events[6][1]["kind"] == "python_decorator"
    observability.close()
