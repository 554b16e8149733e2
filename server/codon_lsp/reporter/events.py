"""How compile records become GraphMemory-IDE telemetry events.

One record is one event whose ``data`` holds the record's log fields; a run of
queued records of the same event type may travel together in one event as
``data: {"records": [...]}``, because the backend has no batch endpoint. Every
record carries its outbox sequence number and its own unique timestamp.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from codon_lsp.compile_record import CompileRecord

EventType = Literal["performance", "error"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def log_event_name(record: CompileRecord) -> str:
    """The log event a record is written as (``compile.finished`` and kin)."""
    if record.outcome == "crash":
        return "compile.crashed"
    if record.outcome == "timeout":
        return "compile.timed_out"
    if record.kind == "run" and record.outcome == "error":
        return "run.failed"
    return "compile.finished"


def event_type_for(record: CompileRecord) -> EventType:
    """``error`` for failed compilations and runs, ``performance`` otherwise."""
    if record.outcome in ("error", "crash", "timeout"):
        return "error"
    return "performance"


def record_data(record: CompileRecord) -> dict[str, Any]:
    """The fields of a record as its log event and its backend event carry them."""
    return {"event": log_event_name(record), **record.fields()}


def format_timestamp(micros: int) -> str:
    """ISO-8601 UTC with microseconds, from microseconds since the epoch."""
    moment = _EPOCH + timedelta(microseconds=micros)
    return moment.isoformat(timespec="microseconds")


def now_micros() -> int:
    """The current time in microseconds since the epoch."""
    delta = datetime.now(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def build_event(
    *,
    event_type: str,
    records: Sequence[dict[str, Any]],
    session_id: str | None,
    user_id: str | None,
) -> dict[str, Any]:
    """The ingest body for one or more queued records (each with its timestamp)."""
    data: dict[str, Any] = (
        dict(records[0]) if len(records) == 1 else {"records": list(records)}
    )
    return {
        "event_type": event_type,
        "timestamp": records[0]["timestamp"],
        "user_id": user_id,
        "session_id": session_id,
        "data": data,
    }


def records_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The records an ingest body carries (the inverse of ``build_event``)."""
    data = body.get("data", {})
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        return list(data["records"])
    return [data]
