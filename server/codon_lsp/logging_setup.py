"""Where log events go and what they look like.

Every module logs structlog events (``structlog.get_logger("codon")``). This
module routes them, and the standard-library records of our dependencies,
through one pipeline: readable lines on stderr for people, JSON lines in a file
for machines, never stdout (the LSP stream in stdio mode). Secrets are redacted
before any renderer sees an event. Rendering and writing happen on a thread of
their own, so that logging costs the caller only the event's processing.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"token|password|passwd|secret|authorization|api[_-]?key|cookie|credential",
    re.IGNORECASE,
)
_SECRET_IN_TEXT = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(
        r"(?i)\b(access_token|token|password|passwd|secret)([\"']?\s*[=:]\s*[\"']?)"
        r"[^\s\"'&,;]+"
    ),
)
_SUSPECT = re.compile(r"(?i)bearer|basic|eyJ|token|passw|secret")
"""Cheap first look: most strings contain none of these and skip the patterns."""
_HANDLER_MARK = "_codon_lsp_handler"
_CHATTY_LIBRARIES = ("httpx", "httpcore")


def redact_text(text: str) -> str:
    """Replace bearer values, JWTs and ``password=...`` pairs inside a string."""
    if not _SUSPECT.search(text):
        return text
    text = _SECRET_IN_TEXT[0].sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _SECRET_IN_TEXT[1].sub(REDACTED, text)
    return _SECRET_IN_TEXT[2].sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value is not None:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, item) for item in value]
    return value


def redact_secrets(
    _logger: WrappedLogger, _method: str, event_dict: EventDict
) -> EventDict:
    """structlog processor: no token, password or Authorization value survives."""
    for key in list(event_dict):
        if key == "event" and isinstance(event_dict[key], str):
            event_dict[key] = redact_text(event_dict[key])
        elif not key.startswith("_"):
            event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]


def _formatter(renderer: Processor) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *_shared_processors()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
        ],
    )


class _HandOff(logging.handlers.QueueHandler):
    """Hands records to the writing thread as they are; that thread renders them."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record


class _Writer:
    """The thread that renders and writes log records, off the caller's path."""

    def __init__(self) -> None:
        self.queue: queue.Queue[logging.LogRecord] = queue.Queue()
        self._listener: logging.handlers.QueueListener | None = None
        self._handlers: tuple[logging.Handler, ...] = ()
        atexit.register(self.stop)

    def restart(self, handlers: list[logging.Handler]) -> None:
        self.stop()
        self.queue = queue.Queue()
        self._handlers = tuple(handlers)
        self._listener = logging.handlers.QueueListener(self.queue, *handlers)
        self._listener.start()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        for handler in self._handlers:
            handler.close()
        self._handlers = ()


_writer = _Writer()


def flush_logs() -> None:
    """Wait until every event logged so far has been written."""
    _writer.queue.join()


def _handlers(log_file: str | None) -> list[logging.Handler]:
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_formatter(structlog.dev.ConsoleRenderer(colors=False)))
    handlers: list[logging.Handler] = [console]
    if log_file:
        path = Path(log_file).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, "a", "utf-8")
        file_handler.setFormatter(_formatter(structlog.processors.JSONRenderer()))
        handlers.append(file_handler)
    return handlers


def configure_logging(*, level: str, log_file: str | None, stdio_mode: bool) -> None:
    """Route every log event; call again to change the level or the file."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )

    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    _writer.restart(_handlers(log_file))
    handoff = _HandOff(_writer.queue)
    setattr(handoff, _HANDLER_MARK, True)
    root.addHandler(handoff)

    root.setLevel(_level_number(level))
    for noisy in _CHATTY_LIBRARIES:
        # One line per HTTP request would drown the reporter's own events.
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Libraries that warn through ``warnings`` must not reach the LSP stream.
    logging.captureWarnings(stdio_mode)


def reset_logging() -> None:
    """Undo ``configure_logging``: our handlers and thread go, defaults return."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(handler)
    _writer.stop()
    structlog.reset_defaults()


def _level_number(level: str) -> int:
    number = logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO
