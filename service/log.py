"""Logging: structlog configured once at start-up; the stdlib's and uvicorn's loggers share its output."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from service.settings import LogFormat, LogLevel


def configure_logging(*, level: LogLevel, log_format: LogFormat, stream: TextIO | None = None) -> None:
    """Send every log line (structlog, stdlib, uvicorn) to one stream (stdout by default) in one format.

    Call it before the first log call: loggers are cached on first use.
    """
    stream = stream or sys.stdout
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if as_json:
        # Tracebacks become a "exception" string field, so one event stays one line.
        renderer = structlog.processors.JSONRenderer()
        shared_tail: list[structlog.types.Processor] = [structlog.processors.format_exc_info]
    else:
        renderer = structlog.dev.ConsoleRenderer()
        shared_tail = []

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *shared_tail, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn installs its own handlers when started from its CLI; route them
    # through ours instead. Its access log is replaced by the request middleware.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
