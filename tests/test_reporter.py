"""Reporting compile records to a GraphMemory-IDE backend over real loopback HTTP.

The backend is the stand-in of ``graphmemory_backend.py``: a real HTTP server
that keeps the backend's contract. Pacing is shortened through a
``DeliveryPolicy`` (and the stand-in's windows) so the suite stays quick; the
real defaults are checked on the rate limiter with a simulated clock.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from codon_lsp.checker import CheckRequest, run_check
from codon_lsp.compile_record import CompileRecord
from codon_lsp.logging_setup import configure_logging, flush_logs, reset_logging
from codon_lsp.observability import Observability
from codon_lsp.reporter import DeliveryPolicy, Outbox
from codon_lsp.reporter.auth import Credentials
from codon_lsp.reporter.delivery import RateLimiter, retry_after_seconds
from codon_lsp.reporter.events import records_of
from codon_lsp.reporter.outbox import QueuedRecord
from codon_lsp.settings import CompilerSettings, Settings, TelemetrySettings
from codon_lsp.toolchain import CodonNotFound, find_codon
from graphmemory_backend import BackendConfig, GraphMemoryBackend

FAST = DeliveryPolicy(
    rate_windows=((18, 1.0), (55, 6.0)),
    request_timeout_s=2.0,
    backoff_base_s=0.02,
    backoff_max_s=0.2,
    max_attempts=3,
    breaker_threshold=3,
    breaker_cooldown_s=0.2,
    breaker_max_cooldown_s=0.4,
    idle_wait_s=0.5,
    close_timeout_s=1.0,
    lease_ttl_s=1.0,
)
SCALED_BACKEND = ((20, 1.0), (60, 6.0))
"""The backend's 20 per 10 s and 60 per minute, with time running 10 times faster."""


def wait_for(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll until ``condition()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout} s")


def record(
    index: int, *, outcome: str = "ok", path: str | None = None
) -> CompileRecord:
    return CompileRecord(
        path=path or f"/project/file{index:03d}.py",
        kind="check",
        outcome=outcome,  # type: ignore[arg-type]
        duration_s=1.5,
        peak_memory_bytes=200_000_000,
        codon_version="0.19.3",
        errors=1 if outcome == "error" else 0,
    )


def settings_for(url: str, **telemetry: Any) -> Settings:
    return Settings(telemetry=TelemetrySettings(url=url, user_id="dev-1", **telemetry))


def metric(observability: Observability, name: str, **labels: str) -> float:
    for sample in observability.metrics_snapshot()["metrics"].get(name, []):
        if sample["labels"] == labels:
            return float(sample["value"])
    raise KeyError(name)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "codon-lsp.jsonl"
    configure_logging(level="debug", log_file=str(path), stdio_mode=True)
    yield path
    reset_logging()


def log_events(path: Path) -> list[dict[str, Any]]:
    flush_logs()
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def backend() -> Iterator[GraphMemoryBackend]:
    server = GraphMemoryBackend(config=BackendConfig(rate_windows=SCALED_BACKEND))
    yield server
    server.stop()


@pytest.fixture
def observabilities() -> Iterator[list[Observability]]:
    made: list[Observability] = []
    yield made
    for observability in made:
        observability.close()


def start_observability(
    made: list[Observability], url: str, state_dir: Path, session: str, **telemetry: Any
) -> Observability:
    observability = Observability.from_settings(
        settings_for(url, **telemetry),
        session_id=session,
        state_dir=state_dir,
        policy=FAST,
    )
    made.append(observability)
    return observability


def test_outage_and_restart_lose_nothing_and_send_nothing_twice(
    backend: GraphMemoryBackend,
    observabilities: list[Observability],
    tmp_path: Path,
    log_file: Path,
) -> None:
    expected = [record(i, outcome="error" if i % 25 == 0 else "ok") for i in range(200)]
    first = start_observability(observabilities, backend.url, tmp_path, "session-1")
    for item in expected[:120]:
        first.observe(item)
    wait_for(
        lambda: (
            metric(first, "codon_reporter_delivery_failures_total", reason="connection")
            >= 1
        )
    )
    first.close()

    second = start_observability(observabilities, backend.url, tmp_path, "session-2")
    for item in expected[120:]:
        second.observe(item)
    backend.start()
    wait_for(lambda: len(backend.records()) >= 200)
    wait_for(lambda: metric(second, "codon_reporter_queue_depth") == 0)

    arrived = backend.records()
    assert [r["path"] for r in arrived] == [r.path for r in expected]
    seqs = [r["seq"] for r in arrived]
    assert seqs == sorted(seqs) and len(set(seqs)) == 200
    timestamps = [r["timestamp"] for r in arrived]
    assert len(set(timestamps)) == 200 and timestamps == sorted(timestamps)
    assert set(backend.statuses()) == {200}
    assert len(backend.stored()) < 200, "a backlog travels in fewer events"
    for event in backend.stored():
        outcomes = {r["outcome"] for r in records_of(event)}
        assert event["event_type"] == (
            "error" if outcomes == {"error"} else "performance"
        )
        assert event["user_id"] == "dev-1"
        assert event["session_id"] in {"session-1", "session-2"}
    assert metric(second, "codon_reporter_events_delivered_total") == 200
    assert second.dead_letters() == []

    events = log_events(log_file)
    names = {e["event"] for e in events}
    assert {"compile.finished", "reporter.delivery_failed", "reporter.started"} <= names
    finished = [e for e in events if e["event"] == "compile.finished"]
    assert finished[1]["path"] == expected[1].path and finished[1]["ok"] is True
    assert finished[0]["ok"] is False and finished[0]["errors"] == 1


def test_a_poison_event_is_dead_lettered_and_the_rest_flow(
    observabilities: list[Observability], tmp_path: Path
) -> None:
    def poisoned(body: dict[str, Any]) -> bool:
        return any(r.get("path") == "/project/poison.py" for r in records_of(body))

    backend = GraphMemoryBackend(
        config=BackendConfig(rate_windows=SCALED_BACKEND, poison=poisoned)
    )
    try:
        observability = start_observability(observabilities, backend.url, tmp_path, "s")
        items = [record(i) for i in range(10)]
        items.insert(4, record(99, path="/project/poison.py"))
        for item in items:
            observability.observe(item)
        wait_for(
            lambda: (
                observability.metrics_snapshot()["metrics"][
                    "codon_reporter_queue_depth"
                ][0]["value"]
                == 11
            )
        )
        backend.start()
        wait_for(lambda: len(backend.records()) == 10 and observability.dead_letters())

        assert [r["path"] for r in backend.records()] == [
            i.path for i in items if i.path != "/project/poison.py"
        ]
        (dead,) = observability.dead_letters()
        assert dead["event"]["data"]["path"] == "/project/poison.py"
        assert "422" in dead["reason"] and dead["records"] == 1
        assert metric(observability, "codon_reporter_dead_lettered_total") == 1
        wait_for(lambda: metric(observability, "codon_reporter_dead_letters") == 1)

        backend.config.poison = None
        assert observability.retry_dead_letters() == 1
        wait_for(lambda: len(backend.records()) == 11)
        assert backend.records()[-1]["path"] == "/project/poison.py"
        assert observability.dead_letters() == []
    finally:
        backend.stop()


def test_rate_limiter_with_the_real_defaults_stays_within_the_backend_limits() -> None:
    limiter = RateLimiter(DeliveryPolicy().rate_windows)
    now, sent = 1000.0, []
    for _ in range(300):
        now += limiter.delay(now)
        limiter.record(now)
        sent.append(now)
    for start in sent:
        assert sum(1 for t in sent if start <= t < start + 10.0) <= 20
        assert sum(1 for t in sent if start <= t < start + 60.0) <= 60


def test_reporter_traffic_stays_within_the_backend_rate_limit(
    backend: GraphMemoryBackend, observabilities: list[Observability], tmp_path: Path
) -> None:
    backend.start()
    observability = start_observability(observabilities, backend.url, tmp_path, "s")
    for i in range(40):
        # Alternating outcomes never share an event: one request per record.
        observability.observe(record(i, outcome="error" if i % 2 else "ok"))
    wait_for(lambda: len(backend.records()) == 40)

    assert 429 not in backend.statuses()
    times = backend.ingest_times()
    assert len(times) == 40
    for start in times:
        assert sum(1 for t in times if start <= t < start + 1.0) <= 20


def test_the_real_delivery_policy_meets_the_real_backend_limits(
    observabilities: list[Observability], tmp_path: Path
) -> None:
    # Real time, real windows on both sides: 22 requests cannot all go within
    # the backend's 10 s window, so this waits about ten seconds.
    backend = GraphMemoryBackend(config=BackendConfig())
    backend.start()
    try:
        observability = Observability.from_settings(
            settings_for(backend.url),
            session_id="real-limits",
            state_dir=tmp_path,
            policy=DeliveryPolicy(),
        )
        observabilities.append(observability)
        for i in range(22):
            observability.observe(record(i, outcome="error" if i % 2 else "ok"))
        wait_for(lambda: len(backend.records()) == 22, timeout=40.0)

        assert set(backend.statuses()) == {200}
        times = backend.ingest_times()
        assert len(times) == 22
        for start in times:
            assert sum(1 for t in times if start <= t < start + 10.0) <= 20
    finally:
        backend.stop()


def test_retry_after_is_honoured(
    observabilities: list[Observability], tmp_path: Path
) -> None:
    backend = GraphMemoryBackend(
        config=BackendConfig(rate_windows=((3, 1.5),), retry_after=1)
    )
    backend.start()
    try:
        observability = start_observability(observabilities, backend.url, tmp_path, "s")
        for i in range(6):
            observability.observe(record(i, outcome="error" if i % 2 else "ok"))
        wait_for(lambda: len(backend.records()) == 6)

        with backend.lock:
            answered = [(r.at, r.status) for r in backend.requests]
        assert any(status == 429 for _, status in answered)
        for (at, status), (next_at, _) in itertools.pairwise(answered):
            if status == 429:
                assert next_at - at >= 0.99
        assert [r["path"] for r in backend.records()] == [
            record(i).path for i in range(6)
        ]
        assert (
            metric(
                observability,
                "codon_reporter_delivery_failures_total",
                reason="rate_limited",
            )
            >= 1
        )
    finally:
        backend.stop()


def test_password_auth_renews_its_token_after_a_401_and_logs_no_secret(
    observabilities: list[Observability],
    tmp_path: Path,
    log_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODON_LSP_GRAPHMEMORY_PASSWORD", "s3cret-pw")
    backend = GraphMemoryBackend(
        config=BackendConfig(
            rate_windows=SCALED_BACKEND, require_auth=True, users={"alice": "s3cret-pw"}
        )
    )
    backend.start()
    try:
        observability = start_observability(
            observabilities, backend.url, tmp_path, "s", username="alice"
        )
        observability.observe(record(0))
        wait_for(lambda: len(backend.records()) == 1)
        backend.expire_tokens()
        observability.observe(record(1))
        wait_for(lambda: len(backend.records()) == 2)
        observability.close()

        with backend.lock:
            requests = list(backend.requests)
        assert [r.path for r in requests].count("/auth/token") == 2
        assert 401 in [r.status for r in requests]
        tokens = {r.authorization for r in requests if r.authorization}
        assert tokens and all(t.startswith("Bearer ey") for t in tokens)
        flush_logs()
        log_text = log_file.read_text()
        assert "reporter.token_renewing" in log_text
        assert "s3cret-pw" not in log_text
        for token in tokens:
            assert token.removeprefix("Bearer ") not in log_text
    finally:
        backend.stop()


def test_a_bearer_token_comes_from_the_environment() -> None:
    credentials = Credentials.from_settings(
        TelemetrySettings(url="http://127.0.0.1:1"),
        {"CODON_LSP_GRAPHMEMORY_TOKEN": "abc.def.ghi"},
    )
    assert credentials.mode == "token"
    assert credentials.headers(None) == {"Authorization": "Bearer abc.def.ghi"}  # type: ignore[arg-type]
    assert Credentials.from_settings(TelemetrySettings(), {}).mode == "none"


def test_read_only_backend_pauses_delivery_without_losing_events(
    backend: GraphMemoryBackend, observabilities: list[Observability], tmp_path: Path
) -> None:
    backend.config.read_only = True
    backend.start()
    observability = start_observability(observabilities, backend.url, tmp_path, "s")
    observability.observe(record(0))
    wait_for(lambda: backend.statuses().count(403) >= 3)
    wait_for(lambda: metric(observability, "codon_reporter_circuit_open") == 1)
    backend.config.read_only = False
    observability.observe(record(1))
    wait_for(lambda: len(backend.records()) == 2)

    assert (
        metric(
            observability, "codon_reporter_delivery_failures_total", reason="read_only"
        )
        >= 3
    )
    wait_for(lambda: metric(observability, "codon_reporter_circuit_open") == 0)
    assert observability.dead_letters() == []


def test_slow_answers_are_waited_for_and_a_lost_answer_is_never_sent_twice(
    backend: GraphMemoryBackend, observabilities: list[Observability], tmp_path: Path
) -> None:
    backend.config.delay_s = 0.2
    backend.start()
    observability = Observability.from_settings(
        settings_for(backend.url),
        session_id="s",
        state_dir=tmp_path,
        # The retry waits a whole second, so the test has turned the delay off
        # by then even on a loaded machine: exactly one retry meets the 500.
        policy=dataclasses.replace(
            FAST, request_timeout_s=0.5, backoff_base_s=1.0, backoff_max_s=1.0
        ),
    )
    observabilities.append(observability)
    observability.observe(record(0))
    wait_for(lambda: len(backend.records()) == 1)

    backend.config.delay_s = 1.0  # longer than the client's 0.5 s timeout
    observability.observe(record(1))
    wait_for(
        lambda: (
            metric(
                observability,
                "codon_reporter_delivery_failures_total",
                reason="timeout",
            )
            >= 1
        )
    )
    backend.config.delay_s = 0.0
    wait_for(lambda: observability.dead_letters())

    assert [r["path"] for r in backend.records()] == [record(0).path, record(1).path]
    (dead,) = observability.dead_letters()
    assert "probably stored" in dead["reason"]
    assert backend.statuses().count(500) == 1


def test_a_full_outbox_drops_the_oldest_records_and_counts_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite3", max_events=10)
    queued = [
        QueuedRecord("performance", "s", None, {"path": f"f{i}.py"}) for i in range(25)
    ]
    assert outbox.add(queued) == 15
    assert outbox.depth() == 10
    envelope = outbox.next_envelope(100)
    assert envelope is not None
    assert [r["path"] for r in records_of(envelope.body)] == [
        f"f{i}.py" for i in range(15, 25)
    ]
    outbox.close()


def test_timestamps_never_repeat_across_reopening_the_outbox(tmp_path: Path) -> None:
    stamps: list[str] = []
    for _ in range(3):
        outbox = Outbox(tmp_path / "outbox.sqlite3", max_events=1000)
        outbox.add([QueuedRecord("performance", "s", None, {}) for _ in range(50)])
        while (envelope := outbox.next_envelope(1)) is not None:
            stamps.append(envelope.body["timestamp"])
            outbox.acknowledge(envelope)
        outbox.close()
    assert len(stamps) == 150 == len(set(stamps))
    assert stamps == sorted(stamps)
    assert all(s.endswith("+00:00") and len(s.split(".")[1]) == 12 for s in stamps)


def test_retry_after_accepts_seconds_and_dates() -> None:
    assert retry_after_seconds("60", 5.0, 3600.0) == 60.0
    assert retry_after_seconds(None, 5.0, 3600.0) == 5.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", 5.0, 3600.0) == 0.0
    assert retry_after_seconds("99999", 5.0, 3600.0) == 3600.0


def test_reporting_off_costs_no_thread_and_no_file(tmp_path: Path) -> None:
    import threading

    before = threading.active_count()
    observability = Observability.from_settings(
        Settings(), session_id="s", state_dir=tmp_path
    )
    observability.observe(record(0))
    assert not observability.reporting
    assert threading.active_count() == before
    assert list(tmp_path.iterdir()) == []
    assert observability.dead_letters() == []
    observability.close()


def test_a_checked_file_is_logged_counted_and_reported(
    backend: GraphMemoryBackend,
    observabilities: list[Observability],
    tmp_path: Path,
    log_file: Path,
) -> None:
    try:
        toolchain = find_codon()
    except CodonNotFound as error:
        pytest.skip(f"no Codon compiler here: {error}")
    source = tmp_path / "hello.py"
    source.write_text('print("hello")\n')
    backend.start()
    observability = start_observability(
        observabilities, backend.url, tmp_path / "state", "s"
    )

    result = run_check(
        CheckRequest(path=source, toolchain=toolchain, compiler=CompilerSettings())
    )
    observability.observe(result.record)
    wait_for(lambda: backend.records())

    (line,) = [e for e in log_events(log_file) if e["event"] == "compile.finished"]
    assert line["path"] == str(source) and line["ok"] is True
    assert line["kind"] == "check" and line["codon_version"]
    assert line["duration_s"] > 0 and line["peak_memory_bytes"] > 0
    assert (
        metric(observability, "codon_compilations_total", kind="check", outcome="ok")
        == 1
    )
    (event,) = backend.stored()
    assert event["event_type"] == "performance"
    assert event["data"]["path"] == str(source)
    assert event["data"]["event"] == "compile.finished"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (server and client alike)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def test_tls_is_verified_by_default_and_mutual_tls_works(
    certificate: tuple[Path, Path],
    observabilities: list[Observability],
    tmp_path: Path,
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    server_tls.verify_mode = ssl.CERT_REQUIRED
    server_tls.load_verify_locations(cert)
    backend = GraphMemoryBackend(
        config=BackendConfig(rate_windows=SCALED_BACKEND, tls=server_tls)
    ).start()
    url = backend.url.replace("http://", "https://")
    try:
        observability = start_observability(observabilities, url, tmp_path, "s")
        observability.observe(record(0))
        wait_for(
            lambda: (
                metric(
                    observability,
                    "codon_reporter_delivery_failures_total",
                    reason="connection",
                )
                >= 1
            )
        )
        assert backend.records() == []

        observability.apply_settings(
            settings_for(
                url, ca_file=str(cert), client_cert=str(cert), client_key=str(key)
            )
        )
        assert observability.reporting
        wait_for(lambda: len(backend.records()) == 1)
        assert backend.records()[0]["path"] == record(0).path
    finally:
        backend.stop()


def test_unusable_tls_files_turn_reporting_off_with_a_logged_error(
    tmp_path: Path, log_file: Path
) -> None:
    observability = Observability.from_settings(
        settings_for("https://127.0.0.1:1", ca_file=str(tmp_path / "missing.pem")),
        session_id="s",
        state_dir=tmp_path,
        policy=FAST,
    )
    observability.observe(record(0))
    assert not observability.reporting
    events = [
        e for e in log_events(log_file) if e["event"] == "reporter.config_invalid"
    ]
    assert len(events) == 1 and "missing.pem" in events[0]["error"]
    observability.close()


def test_turning_reporting_off_and_on_keeps_queued_records(
    backend: GraphMemoryBackend, observabilities: list[Observability], tmp_path: Path
) -> None:
    observability = start_observability(observabilities, backend.url, tmp_path, "s")
    observability.observe(record(0))
    observability.apply_settings(Settings())
    assert not observability.reporting
    observability.observe(record(1))  # reporting off: logged and counted only

    backend.start()
    observability.apply_settings(settings_for(backend.url))
    wait_for(lambda: len(backend.records()) == 1)
    assert backend.records()[0]["path"] == record(0).path
    assert (
        metric(observability, "codon_compilations_total", kind="check", outcome="ok")
        == 2
    )


def test_an_event_failing_too_often_is_dead_lettered_not_retried_forever(
    backend: GraphMemoryBackend, observabilities: list[Observability], tmp_path: Path
) -> None:
    backend.config.fail_status = 503
    backend.start()
    observability = start_observability(observabilities, backend.url, tmp_path, "s")
    observability.observe(record(0))
    (dead,) = wait_for(observability.dead_letters)

    assert dead["attempts"] == FAST.max_attempts
    assert dead["reason"] == f"failed {FAST.max_attempts} times, last with 503"
    assert backend.statuses() == [503] * FAST.max_attempts
    backend.config.fail_status = None
    observability.observe(record(1))
    wait_for(lambda: len(backend.records()) == 1)
    assert backend.records()[0]["path"] == record(1).path


def test_one_process_at_a_time_delivers_from_a_shared_outbox(tmp_path: Path) -> None:
    first = Outbox(tmp_path / "outbox.sqlite3", max_events=10)
    second = Outbox(tmp_path / "outbox.sqlite3", max_events=10)
    assert first.claim_lease("first", ttl_s=60)
    assert not second.claim_lease("second", ttl_s=60)
    assert first.claim_lease("first", ttl_s=60)
    first.release_lease("first")
    assert second.claim_lease("second", ttl_s=60)
    first.close()
    second.close()


def test_a_record_that_cannot_be_json_is_held_back_alone(
    backend: GraphMemoryBackend, observabilities: list[Observability], tmp_path: Path
) -> None:
    observability = start_observability(observabilities, backend.url, tmp_path, "s")
    broken = dataclasses.replace(record(2), duration_s=float("nan"))
    for item in (record(0), record(1), broken, record(3)):
        observability.observe(item)
    wait_for(lambda: metric(observability, "codon_reporter_queue_depth") == 4)
    backend.start()
    (dead,) = wait_for(observability.dead_letters)
    wait_for(lambda: len(backend.records()) == 3)

    assert [r["path"] for r in backend.records()] == [record(i).path for i in (0, 1, 3)]
    assert dead["reason"].startswith("not encodable as JSON")
    assert dead["event"]["data"]["path"] == record(2).path
    count = "codon_compilation_duration_seconds_count"
    assert metric(observability, count, kind="check") == 3
