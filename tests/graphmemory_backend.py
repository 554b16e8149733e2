"""A loopback stand-in of the GraphMemory-IDE backend, for tests.

A real HTTP server (stdlib ``http.server`` in a thread) on a free 127.0.0.1
port that keeps the backend's contract: ``POST /telemetry/ingest`` validates
its body (422), stores events keyed by their timestamp (500 on a repeat), rate
limits per client (429 with ``Retry-After``), can be read-only (403), slow, or
stopped (connections refused), and ``POST /auth/token`` issues a JWT-like
token that is required (401) when auth is on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EVENT_TYPES = frozenset(
    {
        "user_action",
        "system_event",
        "error",
        "performance",
        "memory_operation",
        "graph_change",
        "analytics_request",
    }
)
_SIGNING_KEY = b"stand-in signing key"


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Request:
    """One request as the backend saw it."""

    at: float
    path: str
    status: int
    authorization: str | None
    body: dict[str, Any] | None


@dataclass
class BackendConfig:
    """Behaviour of the stand-in; defaults are the real backend's."""

    rate_windows: tuple[tuple[int, float], ...] = ((20, 10.0), (60, 60.0))
    retry_after: int = 60
    read_only: bool = False
    delay_s: float = 0.0
    require_auth: bool = False
    users: dict[str, str] = field(default_factory=dict)
    poison: Callable[[dict[str, Any]], bool] | None = None
    """Bodies this returns True for are refused with 422 (a stricter schema)."""
    fail_status: int | None = None
    """Answer every valid ingest with this status (a failing storage layer)."""
    tls: ssl.SSLContext | None = None
    """Serve HTTPS with this server-side context."""


class GraphMemoryBackend:
    """Start, stop and inspect the stand-in; events are kept in arrival order."""

    def __init__(self, port: int | None = None, config: BackendConfig | None = None):
        self.port = port or free_port()
        self.config = config or BackendConfig()
        self.events: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._issued_tokens: set[str] = set()
        self._recent: deque[float] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GraphMemoryBackend:
        """Listen on the port (again after ``stop``)."""
        backend = self

        class Handler(_Handler):
            owner = backend

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        if self.config.tls is not None:
            self._server.socket = self.config.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the socket: from now on connections are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def expire_tokens(self) -> None:
        """Forget every token issued, so the next request with one gets 401."""
        with self.lock:
            self._issued_tokens.clear()

    def stored(self) -> list[dict[str, Any]]:
        """Stored events in arrival order."""
        with self.lock:
            return list(self.events.values())

    def records(self) -> list[dict[str, Any]]:
        """Every compile record stored, unpacking events that carry several."""
        found: list[dict[str, Any]] = []
        for event in self.stored():
            data = event["data"]
            found.extend(data.get("records", [data]))
        return found

    def ingest_times(self) -> list[float]:
        """Arrival times of every ingest request, answered or not."""
        with self.lock:
            return [r.at for r in self.requests if r.path == "/telemetry/ingest"]

    def statuses(self) -> list[int]:
        with self.lock:
            return [r.status for r in self.requests if r.path == "/telemetry/ingest"]

    # The handler's side, called under no lock.

    def rate_limited(self, now: float) -> bool:
        with self.lock:
            longest = max(span for _, span in self.config.rate_windows)
            while self._recent and self._recent[0] <= now - longest:
                self._recent.popleft()
            for limit, span in self.config.rate_windows:
                if sum(1 for t in self._recent if t > now - span) >= limit:
                    return True
            self._recent.append(now)
            return False

    def issue_token(self, username: str, password: str) -> str | None:
        if self.config.users.get(username) != password:
            return None
        header = _b64({"alg": "HS256", "typ": "JWT"})
        payload = _b64({"sub": username, "iat": time.time()})
        signature = hmac.new(
            _SIGNING_KEY, f"{header}.{payload}".encode(), hashlib.sha256
        ).digest()
        token = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).decode()}"
        with self.lock:
            self._issued_tokens.add(token)
        return token

    def token_valid(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        with self.lock:
            return authorization.removeprefix("Bearer ") in self._issued_tokens

    def store(self, event: dict[str, Any]) -> bool:
        with self.lock:
            if event["timestamp"] in self.events:
                return False
            self.events[event["timestamp"]] = event
            return True


def _b64(value: dict[str, Any]) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def validation_errors(body: Any) -> list[dict[str, Any]]:
    """What the backend's schema says about a body (empty when valid)."""
    if not isinstance(body, dict):
        return [{"loc": ["body"], "msg": "expected an object"}]
    errors = []
    if body.get("event_type") not in EVENT_TYPES:
        errors.append({"loc": ["body", "event_type"], "msg": "not a known event type"})
    try:
        datetime.fromisoformat(str(body.get("timestamp")))
    except ValueError:
        errors.append({"loc": ["body", "timestamp"], "msg": "invalid datetime"})
    for key in ("user_id", "session_id"):
        if not isinstance(body.get(key), str | None):
            errors.append({"loc": ["body", key], "msg": "expected a string or null"})
    if not isinstance(body.get("data"), dict):
        errors.append({"loc": ["body", "data"], "msg": "expected an object"})
    return errors


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Failed TLS handshakes are expected in tests; they are not our errors."""


class _Handler(BaseHTTPRequestHandler):
    owner: GraphMemoryBackend

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``requests`` instead."""

    def do_GET(self) -> None:
        if self.path == "/health":
            self._answer(200, {"status": "healthy"})
        else:
            self._answer(404, {"detail": "Not Found"})

    def do_POST(self) -> None:
        backend = self.owner
        now = time.monotonic()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = None
        status, answer, headers = self._route(raw, now)
        if status != 422:
            try:
                body = json.loads(raw) if self.path == "/telemetry/ingest" else None
            except ValueError:
                body = None
        with backend.lock:
            backend.requests.append(
                Request(now, self.path, status, self.headers.get("Authorization"), body)
            )
        if backend.config.delay_s:
            time.sleep(backend.config.delay_s)
        self._answer(status, answer, headers)

    def _route(
        self, raw: bytes, now: float
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        backend = self.owner
        if self.path == "/auth/token":
            form = urllib.parse.parse_qs(raw.decode())
            token = backend.issue_token(
                form.get("username", [""])[0], form.get("password", [""])[0]
            )
            if token is None:
                return 401, {"detail": "Incorrect username or password"}, {}
            return 200, {"access_token": token, "token_type": "bearer"}, {}
        if self.path != "/telemetry/ingest":
            return 404, {"detail": "Not Found"}, {}
        if backend.rate_limited(now):
            retry = {"Retry-After": str(backend.config.retry_after)}
            return 429, {"detail": "Rate limit exceeded"}, retry
        if backend.config.require_auth and not backend.token_valid(
            self.headers.get("Authorization")
        ):
            return 401, {"detail": "Not authenticated"}, {}
        if backend.config.read_only:
            return 403, {"detail": "System is in read-only mode"}, {}
        return self._ingest(raw)

    def _ingest(self, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        backend = self.owner
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
        except ValueError as error:
            return 422, {"detail": [{"loc": ["body"], "msg": str(error)}]}, {}
        errors = validation_errors(body)
        if not errors and backend.config.poison and backend.config.poison(body):
            errors = [{"loc": ["body", "data"], "msg": "refused by the schema"}]
        if errors:
            return 422, {"detail": errors}, {}
        if backend.config.fail_status is not None:
            return backend.config.fail_status, {"detail": "storage unavailable"}, {}
        if not backend.store(body):
            detail = "Failed to ingest telemetry: UNIQUE constraint failed"
            return 500, {"detail": detail}, {}
        event_id = hashlib.sha1(body["timestamp"].encode()).hexdigest()[:16]
        return 200, {"status": "success", "event_id": event_id}, {}

    def _answer(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The client gave up waiting (a slow-response test); nothing to do.
            return


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
