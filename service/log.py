"""Logging: structlog configured once at start-up; the stdlib's and uvicorn's loggers share its output."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import structlog

from service.settings import LogFormat, LogLevel


class _Output:
    """Where every log line goes, one whole line at a time.

    structlog's loggers and the stdlib handler both write here, under one lock,
    so their lines never interleave. configure_logging() swaps the stream, and
    loggers cached before that follow it.
    """

    def __init__(self) -> None:
        self.stream: TextIO = sys.stdout
        self._lock = threading.Lock()

    def write_line(self, line: str) -> None:
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()


_output = _Output()


class _LineLogger:
    """The logger structlog renders into: no stdlib LogRecord on the hot path (the access log)."""

    def __init__(self, name: str) -> None:
        self.name = name  # read by add_logger_name

    def msg(self, message: str) -> None:
        _output.write_line(message)

    debug = info = warning = error = critical = exception = msg


def _line_logger(*args: Any) -> _LineLogger:
    return _LineLogger(str(args[0]) if args else "")


class _OutputHandler(logging.Handler):
    """stdlib records (uvicorn, libraries), formatted by structlog, to the same output."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _output.write_line(self.format(record))
        except Exception:
            self.handleError(record)


def configure_logging(
    *, level: LogLevel, log_format: LogFormat, stream: TextIO | None = None, trace_context: bool = False
) -> None:
    """Send every log line (structlog, stdlib, uvicorn) to one stream (stdout by default) in one format.

    trace_context: events logged inside a traced request carry its trace_id and
    span_id (when tracing is on; off, the processor is not in the chain at all).
    Call it before the first log call: loggers are cached on first use.
    """
    _output.stream = stream or sys.stdout
    as_json = log_format == "json" or (log_format == "auto" and not _output.stream.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if trace_context:
        from service.observability.tracing import add_trace_context  # noqa: PLC0415 (only when tracing)

        shared.append(add_trace_context)
    rendering: list[structlog.types.Processor]
    if as_json:
        # Tracebacks become an "exception" string field, so one event stays one line.
        rendering = [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        rendering = [structlog.dev.ConsoleRenderer()]

    # The service's own events: structlog straight to the output. Going through
    # the stdlib (LogRecord, findCaller, handlers) cost the access log about
    # three times as much, a sixth of a request's CPU time.
    structlog.configure(
        processors=[*shared, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_line_logger,
        cache_logger_on_first_use=True,
    )
    handler = _OutputHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers when started from its CLI; route them
    # through ours instead. Its access log is replaced by the request middleware.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Alembic narrates every step at INFO (plugins, "Context impl ..."); the
    # service's schema_* events say what happened (service/schema.py).
    logging.getLogger("alembic").setLevel(logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
