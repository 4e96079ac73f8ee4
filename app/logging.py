"""Structured logs: one JSON object per line, each tagged with the request it belongs to.

A log collector parses JSON without per-service regular expressions, and `request_id` joins
every line a request caused (handler, service, access line) with the id the client saw in
`X-Request-ID`. The id lives in a context variable, so code that logs never passes it around:
the request middleware sets it, and anyio copies the context into the threads that run sync
handlers.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# The name of the handler `configure_logging` installs, to find it again (or remove it).
JSON_HANDLER_NAME = "linecast-json"

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
# uvicorn adds `color_message`, the message again with terminal colour codes.
_RECORD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}
)


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request's id (None outside a request).

    A filter on the handler runs in the thread that logs, where the context variable is set;
    an `extra={"request_id": ...}` given explicitly wins.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, request_id, then the record's extra fields, as JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # default=str: an extra field that JSON cannot hold is logged as text, not dropped.
        return json.dumps(line, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes, not when the handler was made.

    Test runners swap `sys.stderr` per test and close the old one; a handler holding it would
    fail on every later record.
    """

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _stream: TextIO) -> None:
        pass


def json_handler(stream: TextIO | None = None) -> logging.Handler:
    """A handler writing JSON lines to `stream` (default: stderr), request ids included."""
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(level: str) -> None:
    """Log every record of this process as a JSON line on stderr, at `level` and above.

    Idempotent: the handler installed by an earlier call (another app built in the same
    process) is replaced, so no line is written twice. Other handlers, such as pytest's log
    capture, are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == JSON_HANDLER_NAME:
            root.removeHandler(handler)
    handler = json_handler()
    handler.set_name(JSON_HANDLER_NAME)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic announces its dialect at INFO on every revision check, i.e. every /readyz probe.
    logging.getLogger("alembic.runtime.migration").setLevel(max(root.level, logging.WARNING))
