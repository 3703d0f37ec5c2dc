"""Structured logs: one JSON object per line, on stderr, through stdlib logging.

Log calls pass their data as `extra={"fields": {...}}`; the formatter adds the time,
level, logger, message and the current request's id. What goes into `fields` is chosen
by the caller, and the server's callers never pass headers, cookies, bodies or query
strings: tokens and passwords travel only in those.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request being handled, for every log line written while handling it.
request_id_var: ContextVar[str | None] = ContextVar("casework_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            out["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for everything, the server's and uvicorn's own loggers too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The app writes its own access line (middleware.py); uvicorn's would repeat it, with
    # the query string, where a careless client may have put a secret.
    logging.getLogger("uvicorn.access").disabled = True
    # /readyz reads the schema revision on every probe: Alembic need not say so each time.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)


class Throttle:
    """At most one line per message every `window` seconds: during an outage every
    request fails alike, and a line each (hundreds a second) would bury the rest of the
    log. The first occurrence is logged at once; the next one after the window says how
    many like it were left out meanwhile. `clock`: seconds, monotonic (tests pass theirs)."""

    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}  # message -> (logged at, left out since)

    def admit(self, message: str) -> int | None:
        """None: leave this one out. Otherwise log it, with how many were left out."""
        now = self.clock()
        with self._lock:
            logged_at, left_out = self._seen.get(message, (None, 0))
            if logged_at is not None and now - logged_at < self.window:
                self._seen[message] = (logged_at, left_out + 1)
                return None
            if len(self._seen) > 1000:  # messages carry driver text: keep the map small
                self._seen.clear()
            self._seen[message] = (now, 0)
            return left_out
