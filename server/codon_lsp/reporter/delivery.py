"""Background delivery of the outbox to the GraphMemory-IDE backend.

A thread of its own moves records from memory into the outbox and sends
envelopes one at a time, oldest first: within the backend's rate limit, pausing
for ``Retry-After`` on 429, backing off with jitter on connection errors and
5xx, and pausing longer (the circuit opens) while the backend keeps failing.
A 422 or too many failed tries moves an envelope to the dead letters. Nothing
here runs on the path of an LSP request: ``enqueue`` only appends to a deque.
"""

from __future__ import annotations

import email.utils
import os
import random
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
import structlog

from codon_lsp import __version__
from codon_lsp.compile_record import CompileRecord
from codon_lsp.metrics import CodonMetrics
from codon_lsp.reporter.auth import AuthError, Credentials, tls_verify
from codon_lsp.reporter.events import event_type_for, record_data
from codon_lsp.reporter.outbox import Envelope, Outbox, OutboxClosed, QueuedRecord
from codon_lsp.settings import TelemetrySettings

log = structlog.get_logger("codon")

INGEST_PATH = "/telemetry/ingest"


@dataclass(frozen=True, kw_only=True)
class DeliveryPolicy:
    """The pacing of delivery; defaults keep to the backend's published limits."""

    rate_windows: tuple[tuple[int, float], ...] = ((18, 10.0), (55, 60.0))
    """(requests, seconds): the backend allows 20 per 10 s and 60 per minute."""
    request_timeout_s: float = 10.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    max_attempts: int = 5
    """Answered failures (5xx) of one event before it is dead-lettered."""
    breaker_threshold: int = 5
    """Consecutive failures that open the circuit."""
    breaker_cooldown_s: float = 60.0
    breaker_max_cooldown_s: float = 600.0
    default_retry_after_s: float = 60.0
    max_retry_after_s: float = 3600.0
    max_records_per_event: int = 100
    idle_wait_s: float = 30.0
    close_timeout_s: float = 2.0
    lease_ttl_s: float = 30.0


class RateLimiter:
    """Sliding windows over the times of past requests."""

    def __init__(self, windows: tuple[tuple[int, float], ...]) -> None:
        self._windows = windows
        self._sent: deque[float] = deque(maxlen=max(limit for limit, _ in windows))

    def delay(self, now: float) -> float:
        """Seconds to wait before the next request may leave (0 means now)."""
        wait = 0.0
        for limit, span in self._windows:
            recent = [sent for sent in self._sent if sent > now - span]
            if len(recent) >= limit:
                wait = max(wait, recent[-limit] + span - now)
        return wait

    def record(self, now: float) -> None:
        """Note a request that left at ``now``."""
        self._sent.append(now)


class CircuitBreaker:
    """Opens after consecutive failures; each failure while open doubles the pause."""

    def __init__(self, policy: DeliveryPolicy) -> None:
        self._policy = policy
        self.failures = 0

    @property
    def is_open(self) -> bool:
        return self.failures >= self._policy.breaker_threshold

    def failure(self) -> float | None:
        """Count a failure; return the pause when the circuit is (still) open."""
        self.failures += 1
        if not self.is_open:
            return None
        doublings = self.failures - self._policy.breaker_threshold
        pause = self._policy.breaker_cooldown_s * 2.0 ** min(doublings, 16)
        return float(min(pause, self._policy.breaker_max_cooldown_s))

    def success(self) -> bool:
        """Reset; return whether the circuit was open."""
        was_open = self.is_open
        self.failures = 0
        return was_open


def backoff_delay(failures: int, policy: DeliveryPolicy) -> float:
    """Exponential backoff with jitter: half fixed, half random."""
    ceiling = min(
        policy.backoff_max_s, policy.backoff_base_s * 2.0 ** min(failures, 30)
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def retry_after_seconds(value: str | None, default: float, ceiling: float) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return default
        seconds = (moment - datetime.now(timezone.utc)).total_seconds()
    return float(max(0.0, min(seconds, ceiling)))


class Reporter:
    """Owns the delivery thread, its HTTP client and the outbox it drains."""

    def __init__(
        self,
        *,
        telemetry: TelemetrySettings,
        session_id: str,
        outbox: Outbox,
        metrics: CodonMetrics,
        policy: DeliveryPolicy | None = None,
        credentials: Credentials | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if telemetry.url is None:
            raise ValueError("a reporter needs telemetry.url")
        self.telemetry = telemetry
        self.outbox = outbox
        self._session_id = session_id
        self._metrics = metrics
        self._policy = policy or DeliveryPolicy()
        self._credentials = credentials or Credentials.from_settings(telemetry)
        self._clock = clock
        self._client = httpx.Client(
            base_url=telemetry.url.rstrip("/"),
            timeout=self._policy.request_timeout_s,
            verify=tls_verify(telemetry),
            headers={"User-Agent": f"codon-lsp/{__version__}"},
        )
        self._queue: deque[QueuedRecord] = deque()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._limiter = RateLimiter(self._policy.rate_windows)
        self._breaker = CircuitBreaker(self._policy)
        self._paused_until = 0.0
        self._lease_until = 0.0
        self._renewed_token = False
        self._persist_lock = threading.Lock()
        self._finish_lock = threading.Lock()
        self._finished = False
        self._owner = f"{session_id}:{os.getpid()}:{id(self):x}"
        self._thread = threading.Thread(
            target=self._run, name="codon-lsp-reporter", daemon=True
        )

    def start(self) -> None:
        """Start the delivery thread."""
        log.info(
            "reporter.started",
            url=self.telemetry.url,
            auth=self._credentials.mode,
            outbox=str(self.outbox.path),
        )
        self._thread.start()

    def enqueue(
        self, record: CompileRecord, data: dict[str, Any] | None = None
    ) -> None:
        """Hand a record (and its event fields, if already made) to the thread."""
        self._queue.append(
            QueuedRecord(
                event_type=event_type_for(record),
                session_id=self._session_id,
                user_id=self.telemetry.user_id,
                data=record_data(record) if data is None else data,
            )
        )
        self._wake.set()

    def wake(self) -> None:
        """Look at the outbox again now (after dead letters were queued again)."""
        self._wake.set()

    def close(self) -> None:
        """Store what is queued, try to deliver for a short while, then stop."""
        self._persist_queued()
        self._stopping.set()
        self._wake.set()
        if not self._thread.is_alive():
            self._finish()
            return
        self._thread.join(self._policy.close_timeout_s + 0.5)
        if self._thread.is_alive():
            # The thread finishes on its own once its request returns.
            log.warning("reporter.close_timed_out")

    def _finish(self) -> None:
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
            pending: int | None = None
            try:
                self._persist_queued()
                pending = self.outbox.depth()
                self.outbox.release_lease(self._owner)
            except (OutboxClosed, sqlite3.Error) as error:
                log.warning("reporter.outbox_unavailable", error=str(error))
            finally:
                self.outbox.close()
                self._client.close()
        log.info("reporter.stopped", pending=pending)

    def _run(self) -> None:
        try:
            self._deliver_until_stopped()
        finally:
            self._finish()

    def _deliver_until_stopped(self) -> None:
        deadline: float | None = None
        while True:
            self._wake.clear()
            try:
                self._persist_queued()
                wait = self._step()
            except OutboxClosed:
                return
            except Exception:
                log.exception("reporter.internal_error")
                wait = backoff_delay(1, self._policy)
            if self._stopping.is_set():
                deadline = deadline or self._clock() + self._policy.close_timeout_s
                if wait > 0 or self._clock() >= deadline:
                    return
            self._wake.wait(wait)

    def _persist_queued(self) -> None:
        # One lock from pop to commit: two batches never swap their order.
        with self._persist_lock:
            batch: list[QueuedRecord] = []
            while self._queue:
                batch.append(self._queue.popleft())
            if not batch:
                return
            dropped = self.outbox.add(batch)
        if dropped:
            self._metrics.dropped.inc(dropped)
            log.warning(
                "reporter.dropped", records=dropped, limit=self.outbox.max_events
            )
        self._update_gauges()

    def _update_gauges(self) -> None:
        self._metrics.queue_depth.set(self.outbox.depth() + len(self._queue))
        self._metrics.dead_letters.set(self.outbox.dead_letter_count())

    def _step(self) -> float:
        """Send at most one request; return how long to wait before the next step."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        if now >= self._lease_until:
            if not self.outbox.claim_lease(self._owner, self._policy.lease_ttl_s):
                return self._policy.lease_ttl_s / 2
            self._lease_until = now + self._policy.lease_ttl_s / 3
        envelope = self.outbox.next_envelope(self._policy.max_records_per_event)
        if envelope is None:
            return self._policy.idle_wait_s
        delay = self._limiter.delay(now)
        if delay > 0:
            return delay
        self._limiter.record(now)
        return self._send(envelope)

    def _send(self, envelope: Envelope) -> float:
        try:
            headers = self._credentials.headers(self._client)
        except AuthError as error:
            log.warning("reporter.auth_failed", reason=str(error))
            return self._backend_failed("unauthorized", status=None)
        try:
            request = self._client.build_request(
                "POST", INGEST_PATH, json=envelope.body, headers=headers
            )
        except (TypeError, ValueError) as error:
            if envelope.records > 1:
                self.outbox.split(envelope)
                return 0.0
            return self._dead_letter(envelope, f"not encodable as JSON: {error}")

        self.outbox.mark_sending(envelope)
        self._metrics.requests.inc()
        try:
            response = self._client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            self.outbox.note_attempt(envelope, counted=False, ambiguous=False)
            return self._backend_failed("connection", status=None, error=error)
        except httpx.HTTPError as error:
            # The request may have reached the backend and been stored.
            attempts = self.outbox.note_attempt(envelope, counted=True, ambiguous=True)
            reason = (
                "timeout" if isinstance(error, httpx.TimeoutException) else "connection"
            )
            if attempts >= self._policy.max_attempts:
                self._dead_letter(envelope, f"no answer after {attempts} tries")
            return self._backend_failed(reason, status=None, error=error)
        return self._handle(envelope, response)

    def _handle(self, envelope: Envelope, response: httpx.Response) -> float:
        status = response.status_code
        if 200 <= status < 300:
            return self._delivered(envelope)
        if status == 401 and self._credentials.renewable and not self._renewed_token:
            self.outbox.note_attempt(envelope, counted=False, ambiguous=False)
            self._credentials.invalidate()
            self._renewed_token = True
            log.info("reporter.token_renewing")
            return 0.0
        if status == 422:
            self.outbox.note_attempt(envelope, counted=True, ambiguous=False)
            return self._rejected(envelope, response)
        if status == 429:
            self.outbox.note_attempt(envelope, counted=False, ambiguous=False)
            return self._rate_limited(response)
        if status in (401, 403):
            self.outbox.note_attempt(envelope, counted=False, ambiguous=False)
            if status == 401:
                # After the pause, fetch a token once more.
                self._credentials.invalidate()
                self._renewed_token = False
            reason = "unauthorized" if status == 401 else "read_only"
            return self._backend_failed(reason, status=status)
        return self._server_error(envelope, status)

    def _delivered(self, envelope: Envelope) -> float:
        self.outbox.acknowledge(envelope)
        self._renewed_token = False
        self._metrics.delivered.inc(envelope.records)
        if self._breaker.success():
            self._metrics.circuit_open.set(0)
            log.info("reporter.circuit_closed")
        log.debug(
            "reporter.delivered",
            records=envelope.records,
            event_timestamp=envelope.body["timestamp"],
        )
        self._update_gauges()
        return 0.0

    def _rejected(self, envelope: Envelope, response: httpx.Response) -> float:
        self._metrics.delivery_failures.labels(reason="rejected").inc()
        if envelope.records > 1:
            # Find the record the backend objects to; the others still flow.
            self.outbox.split(envelope)
            log.info("reporter.event_split", records=envelope.records)
            return 0.0
        return self._dead_letter(envelope, f"rejected (422): {response.text[:300]}")

    def _rate_limited(self, response: httpx.Response) -> float:
        pause = retry_after_seconds(
            response.headers.get("Retry-After"),
            self._policy.default_retry_after_s,
            self._policy.max_retry_after_s,
        )
        self._metrics.delivery_failures.labels(reason="rate_limited").inc()
        self._paused_until = self._clock() + pause
        log.warning("reporter.rate_limited", retry_in_s=pause)
        return pause

    def _server_error(self, envelope: Envelope, status: int) -> float:
        attempts = self.outbox.note_attempt(envelope, counted=True, ambiguous=False)
        if envelope.ambiguous and status == 500:
            # The timestamp is the backend's key: a 500 after an unanswered try
            # most likely means the first try was stored.
            self._dead_letter(
                envelope, "500 after an unanswered try: probably stored already"
            )
        elif attempts >= self._policy.max_attempts:
            self._dead_letter(envelope, f"failed {attempts} times, last with {status}")
        return self._backend_failed("server_error", status=status)

    def _dead_letter(self, envelope: Envelope, reason: str) -> float:
        dropped = self.outbox.dead_letter(envelope, reason)
        self._metrics.dead_lettered.inc(envelope.records)
        log.warning(
            "reporter.dead_lettered",
            records=envelope.records,
            event_timestamp=envelope.body.get("timestamp"),
            reason=reason,
        )
        if dropped:
            self._metrics.dropped.inc(dropped)
            log.warning("reporter.dropped", records=dropped, table="dead_letters")
        self._update_gauges()
        return 0.0

    def _backend_failed(
        self, reason: str, *, status: int | None, error: Exception | None = None
    ) -> float:
        self._metrics.delivery_failures.labels(reason=reason).inc()
        was_open = self._breaker.is_open
        pause = backoff_delay(self._breaker.failures, self._policy)
        circuit_pause = self._breaker.failure()
        if circuit_pause is not None:
            pause = max(pause, circuit_pause)
            self._metrics.circuit_open.set(1)
            if not was_open:
                log.warning(
                    "reporter.circuit_opened",
                    failures=self._breaker.failures,
                    pause_s=round(pause, 3),
                )
        self._paused_until = self._clock() + pause
        log.warning(
            "reporter.delivery_failed",
            reason=reason,
            status=status,
            error=type(error).__name__ if error else None,
            detail=str(error)[:300] if error else None,
            retry_in_s=round(pause, 3),
        )
        return pause
