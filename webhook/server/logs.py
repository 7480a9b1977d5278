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
import threading
import time
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


class AdmissionLog:
    """One JSON line per admission, serialised on the hot path (~2 µs) and written by a thread.

    Bypasses ``logging``'s record machinery, which costs more than the placement decision itself;
    the line has the same shape as the other log lines (``time``, ``level``, ``logger``, ``msg``).
    The writer wakes on a timer and writes whatever accumulated in one call, instead of waking
    (and taking the GIL from the event loop) once per line.
    """

    def __init__(self, stream: Any = None, *, interval: float = 0.05) -> None:
        self._lines: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._stream = stream if stream is not None else sys.stdout.buffer
        self._interval = interval
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="admission-log", daemon=True)
        self._thread.start()

    def write(self, fields: dict[str, Any]) -> None:
        line = {
            "time": self._timestamp(),
            "level": "info",
            "logger": ADMISSION_LOGGER,
            **fields,
        }
        self._lines.put(orjson.dumps(line) + b"\n")

    _second: int = -1
    _second_text: str = ""

    def _timestamp(self) -> str:
        """``datetime.now(UTC).isoformat(timespec="milliseconds")``, with the date and time of day
        formatted once per second (~0.4 µs instead of ~1.8 µs)."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second_text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{int((now - second) * 1000):03d}+00:00"

    def _run(self) -> None:
        while not self._closed.wait(self._interval):
            self._flush()
        self._flush()

    def _flush(self) -> None:
        batch = []
        while not self._lines.empty():
            batch.append(self._lines.get_nowait())
        if batch:
            try:
                self._stream.write(b"".join(batch))
                self._stream.flush()
            except (OSError, ValueError):
                pass  # a closed stdout must never take the webhook down

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        self._closed.set()
        self._thread.join(timeout=5)


def flush_logging() -> None:
    """Write every queued record (at shutdown)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
