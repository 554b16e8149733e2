"""The SQLite outbox: compile records waiting for the backend, and dead letters.

Records are written here before any delivery is tried, so they survive a
backend outage and a restart. Each record gets a timestamp, unique and
increasing across restarts and across processes sharing the file, allocated in
the same transaction that stores it. Records leave ``pending`` only by being
packed into an envelope (the exact body that will be sent, kept until the
backend accepts it, so a retry repeats the same timestamp and can never be
stored twice), by being dead-lettered, or by being dropped when the outbox is
full. One process at a time delivers, by holding a lease.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codon_lsp.reporter.events import (
    build_event,
    format_timestamp,
    now_micros,
    records_of,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    event_type TEXT NOT NULL,
    session_id TEXT,
    user_id TEXT,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS envelopes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    records INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    ambiguous INTEGER NOT NULL DEFAULT 0,
    sending INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    records INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
"""


class OutboxClosed(Exception):
    """The outbox was closed while a delivery thread still used it."""


@dataclass(frozen=True)
class QueuedRecord:
    """A record on its way into the outbox."""

    event_type: str
    session_id: str | None
    user_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Envelope:
    """One ingest request, exactly as it is (re)sent."""

    id: int
    body: dict[str, Any]
    records: int
    attempts: int
    ambiguous: bool


class Outbox:
    """A SQLite file of pending records, envelopes in flight and dead letters."""

    def __init__(self, path: Path, *, max_events: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_events = max_events
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            path, timeout=10, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise OutboxClosed(str(self.path))
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def add(self, records: Sequence[QueuedRecord]) -> int:
        """Store records with fresh unique timestamps; return how many were dropped."""
        if not records:
            return 0
        with self._transaction() as db:
            last = int(_meta(db, "last_timestamp_us") or 0)
            for record in records:
                last = max(now_micros(), last + 1)
                db.execute(
                    "INSERT INTO pending"
                    " (timestamp, event_type, session_id, user_id, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        format_timestamp(last),
                        record.event_type,
                        record.session_id,
                        record.user_id,
                        json.dumps(record.data),
                    ),
                )
            _set_meta(db, "last_timestamp_us", str(last))
            return _trim(db, "pending", "seq", self.max_events)

    def next_envelope(self, max_records: int) -> Envelope | None:
        """The envelope to send next, packing pending records into one if needed."""
        with self._transaction() as db:
            # ``sending`` still set means a process died before it read the answer.
            row = db.execute(
                "SELECT id, body, records, attempts, MAX(ambiguous, sending)"
                " FROM envelopes ORDER BY first_seq, id LIMIT 1"
            ).fetchone()
            if row is None:
                row = _pack(db, max_records)
            if row is None:
                return None
            return Envelope(row[0], json.loads(row[1]), row[2], row[3], bool(row[4]))

    def mark_sending(self, envelope: Envelope) -> None:
        """Note that a request is about to leave, in case we die before its answer."""
        with self._transaction() as db:
            db.execute("UPDATE envelopes SET sending = 1 WHERE id = ?", (envelope.id,))

    def acknowledge(self, envelope: Envelope) -> None:
        """The backend stored the envelope."""
        with self._transaction() as db:
            db.execute("DELETE FROM envelopes WHERE id = ?", (envelope.id,))

    def note_attempt(
        self, envelope: Envelope, *, counted: bool, ambiguous: bool
    ) -> int:
        """Record a failed send; ``ambiguous`` when the backend may have stored it.

        Returns the tries counted so far (only ``counted`` sends count).
        """
        with self._transaction() as db:
            db.execute(
                "UPDATE envelopes SET attempts = attempts + ?, sending = 0,"
                " ambiguous = MAX(ambiguous, ?) WHERE id = ?",
                (int(counted), int(ambiguous), envelope.id),
            )
            row = db.execute(
                "SELECT attempts FROM envelopes WHERE id = ?", (envelope.id,)
            ).fetchone()
            return int(row[0]) if row else 0

    def split(self, envelope: Envelope) -> None:
        """Replace a multi-record envelope by one envelope per record, in order."""
        with self._transaction() as db:
            db.execute("DELETE FROM envelopes WHERE id = ?", (envelope.id,))
            for record in records_of(envelope.body):
                body = {**envelope.body, "timestamp": record["timestamp"]}
                body["data"] = record
                _insert_envelope(db, int(record["seq"]), body, 1)

    def dead_letter(self, envelope: Envelope, reason: str) -> int:
        """Move an envelope to the dead letters; return records dropped to fit."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT attempts FROM envelopes WHERE id = ?", (envelope.id,)
            ).fetchone()
            db.execute("DELETE FROM envelopes WHERE id = ?", (envelope.id,))
            db.execute(
                "INSERT INTO dead_letters"
                " (first_seq, body, records, attempts, reason, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    int(records_of(envelope.body)[0].get("seq", 0)),
                    json.dumps(envelope.body),
                    envelope.records,
                    int(row[0]) if row else envelope.attempts,
                    reason,
                    format_timestamp(now_micros()),
                ),
            )
            return _trim(db, "dead_letters", "id", self.max_events)

    def depth(self) -> int:
        """Records not yet accepted by the backend (pending and in envelopes)."""
        with self._transaction() as db:
            pending = db.execute("SELECT COUNT(*) FROM pending").fetchone()[0]
            packed = db.execute(
                "SELECT COALESCE(SUM(records), 0) FROM envelopes"
            ).fetchone()[0]
            return int(pending) + int(packed)

    def dead_letter_count(self) -> int:
        """Events in the dead-letter table."""
        with self._transaction() as db:
            return int(db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter: its event, why it failed, after how many tries."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, body, records, attempts, reason, failed_at"
                " FROM dead_letters ORDER BY id"
            ).fetchall()
        return [
            {
                "id": row[0],
                "event": json.loads(row[1]),
                "records": row[2],
                "attempts": row[3],
                "reason": row[4],
                "failed_at": row[5],
            }
            for row in rows
        ]

    def retry_dead_letters(self) -> int:
        """Queue every dead letter again, unchanged; return how many."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id, first_seq, body, records FROM dead_letters ORDER BY id"
            ).fetchall()
            for _id, first_seq, body, records in rows:
                _insert_envelope(db, first_seq, json.loads(body), records)
            db.execute("DELETE FROM dead_letters")
            return len(rows)

    def claim_lease(self, owner: str, ttl_s: float) -> bool:
        """Become (or stay) the one process delivering from this file."""
        now = time.time()
        with self._transaction() as db:
            holder = _meta(db, "lease_owner")
            until = float(_meta(db, "lease_until") or 0)
            if holder not in (None, owner) and until > now:
                return False
            _set_meta(db, "lease_owner", owner)
            _set_meta(db, "lease_until", str(now + ttl_s))
            return True

    def release_lease(self, owner: str) -> None:
        """Let another process deliver at once."""
        with self._transaction() as db:
            if _meta(db, "lease_owner") == owner:
                _set_meta(db, "lease_until", "0")

    def close(self) -> None:
        """Close the file; later calls raise ``OutboxClosed``."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _trim(db: sqlite3.Connection, table: str, key: str, keep: int) -> int:
    """Delete the oldest rows beyond ``keep``; return the records they held."""
    excess = int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) - keep
    if excess <= 0:
        return 0
    oldest = f"SELECT {key} FROM {table} ORDER BY {key} LIMIT {excess}"
    records = excess
    if table == "dead_letters":
        total = f"SELECT COALESCE(SUM(records), 0) FROM {table} WHERE {key} IN"
        records = int(db.execute(f"{total} ({oldest})").fetchone()[0])
    db.execute(f"DELETE FROM {table} WHERE {key} IN ({oldest})")
    return records


def _insert_envelope(
    db: sqlite3.Connection, first_seq: int, body: dict[str, Any], records: int
) -> int:
    cursor = db.execute(
        "INSERT INTO envelopes (first_seq, body, records) VALUES (?, ?, ?)",
        (first_seq, json.dumps(body), records),
    )
    return int(cursor.lastrowid or 0)


def _pack(db: sqlite3.Connection, max_records: int) -> tuple[Any, ...] | None:
    """Pack the oldest run of same-type pending records into a new envelope."""
    rows = db.execute(
        "SELECT seq, timestamp, event_type, session_id, user_id, data FROM pending"
        " ORDER BY seq LIMIT ?",
        (max_records,),
    ).fetchall()
    if not rows:
        return None
    group = _leading_run(rows)
    records = [
        {**json.loads(data), "seq": seq, "timestamp": timestamp}
        for seq, timestamp, _type, _session, _user, data in group
    ]
    _seq, _ts, event_type, session_id, user_id, _data = group[0]
    body = build_event(
        event_type=event_type, records=records, session_id=session_id, user_id=user_id
    )
    db.execute("DELETE FROM pending WHERE seq <= ?", (group[-1][0],))
    envelope_id = _insert_envelope(db, group[0][0], body, len(group))
    return (envelope_id, json.dumps(body), len(group), 0, 0)


def _leading_run(rows: list[Any]) -> list[Any]:
    """The first rows that share event type, session and user."""
    key = rows[0][2:5]
    run = []
    for row in rows:
        if row[2:5] != key:
            break
        run.append(row)
    return run
