"""Structured JSON logs, one line per event, written by a background thread.

The admission hot path only enqueues a record (``QueueHandler``); formatting and the write to
stdout happen in a ``QueueListener`` thread, so a slow log pipe never delays an admission answer.
Log lines carry identifiers and outcomes only, never Pod contents.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import logging.handlers
import queue
import sys
import traceback
from typing import Any

import orjson

ADMISSION_LOGGER = "placement_webhook.admission"
LOGGER = "placement_webhook"


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "msg", **fields}``; ``fields`` comes from ``extra={"fields": ...}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


class _PreparedQueueHandler(logging.handlers.QueueHandler):
    """Keeps the traceback as ``exc_text`` instead of folding it into the message."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        prepared = logging.makeLogRecord(record.__dict__)
        prepared.msg, prepared.args = record.getMessage(), None
        if record.exc_info:
            prepared.exc_text = "".join(traceback.format_exception(*record.exc_info))
        prepared.exc_info = None
        return prepared


_listener: logging.handlers.QueueListener | None = None


def configure_logging(level: str = "info") -> None:
    """Route this project's and uvicorn's loggers through one non-blocking JSON handler."""
    global _listener
    flush_logging()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    output = logging.StreamHandler(sys.stdout)
    output.setFormatter(JsonFormatter())
    _listener = logging.handlers.QueueListener(records, output, respect_handler_level=False)
    _listener.start()
    atexit.register(flush_logging)
    handler = _PreparedQueueHandler(records)
    for name in (LOGGER, "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # one admission line per request is ours


def flush_logging() -> None:
    """Write every queued record (at shutdown)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
