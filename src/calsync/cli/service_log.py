"""How ``calsync serve``, ``worker`` and the demo service log: one JSON object per line on standard error (or plain
text with ``--log-format text``), for the service's own lines and uvicorn's alike, each passed through the
process's ``SecretFilter`` so a secret that slipped into a message is masked.

Apart from ``calsync.cli.serve`` because it is the one part of a service's start that every entry point shares,
and tests set it up on its own.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TextIO


class LogFormat(StrEnum):
    """How log lines look: one JSON object per line (for a log collector) or plain text (for a terminal)."""

    JSON = "json"
    TEXT = "text"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, thread, message and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "thread": record.threadName,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class _ServiceHandler(logging.StreamHandler[TextIO]):
    """Log lines to the standard error of the moment (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: int, log_format: LogFormat = LogFormat.JSON) -> logging.Handler:
    """Send every logger's records (calsync's and uvicorn's) at ``level`` and above to standard error, masked.

    Replaces the root logger's handlers, so the process logs in one format once; calsync's own logger
    propagates to it instead of keeping a handler of its own.
    """
    from calsync.crypto import redactor

    handler = _ServiceHandler(sys.stderr)
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else text)
    handler.addFilter(redactor())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))  # one line per request is noise in a service
    for name in ("calsync", "uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        for old in list(named.handlers):
            named.removeHandler(old)
        named.setLevel(logging.NOTSET)
        named.propagate = True
    return handler
