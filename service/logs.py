"""Logging: JSON lines (default) or plain text. Request texts are never logged."""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        return line + (" " + " ".join(f"{k}={v}" for k, v in fields.items()) if fields else "")


class _DeferredFormatting(logging.handlers.QueueHandler):
    """Hands records to the writer thread unformatted: formatting and the write() system call
    (one per access line, thousands a second under load) stay off the event loop."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info:  # tracebacks cannot cross threads as objects; render them here
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


_listener: logging.handlers.QueueListener | None = None


def _stop_listener() -> None:
    """Write out what is queued and stop the writer thread (once per listener)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


atexit.register(_stop_listener)  # flush what is queued when the process exits


def flush() -> None:
    """Write out every queued record now, as at exit (for a process about to os._exit)."""
    _stop_listener()


def configure(level: str, fmt: str) -> None:
    global _listener
    _stop_listener()
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _listener = logging.handlers.QueueListener(records, writer)
    _listener.start()
    root = logging.getLogger()
    root.handlers[:] = [_DeferredFormatting(records)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the service writes its own access line
