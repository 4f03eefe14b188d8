"""Request context (pure ASGI): request id, one access event per request, last-resort JSON 500, observers.

The middleware times each request once; observers (metrics, tracing) are told
when it starts and how it ended, so they share that timing instead of wrapping
the application in one more middleware each.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Collection, Sequence
from typing import Protocol

import structlog
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")

access_log = structlog.get_logger("service.access")
error_log = structlog.get_logger("service.errors")


class RequestObserver(Protocol):
    """Told about every HTTP request, on the event loop: keep both calls cheap and never raise."""

    def request_started(self, scope: Scope, request_id: str) -> None: ...

    def request_finished(self, scope: Scope, status_code: int, seconds: float) -> None:
        """After the response (or the failure); the router has put the matched route in scope["route"]."""


class RequestContextMiddleware:
    """Tags every request with an id, logs one access event, and turns escaped exceptions into a JSON 500.

    Handling the exception here (instead of in Starlette's ServerErrorMiddleware,
    which logs and re-raises) gives exactly one error log event.
    """

    def __init__(
        self, app: ASGIApp, *, observers: Sequence[RequestObserver] = (), quiet_paths: Collection[str] = ()
    ) -> None:
        self.app = app
        self.observers = tuple(observers)
        # Paths polled by machines (the metrics scrape): their access events are logged at debug.
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _request_id(scope)
        for observer in self.observers:
            observer.request_started(scope, request_id)
        started = time.perf_counter()
        status_code = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_code = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_request_id)
            except Exception:
                error_log.exception("unhandled_exception", method=scope["method"], path=scope["path"])
                if not response_started:
                    response = JSONResponse({"detail": "Internal Server Error"}, status_code=500)
                    await response(scope, receive, send_with_request_id)
            finally:
                seconds = time.perf_counter() - started
                for observer in self.observers:
                    observer.request_finished(scope, status_code, seconds)
                log = access_log.debug if scope["path"] in self.quiet_paths else access_log.info
                log(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status_code,
                    duration_ms=round(seconds * 1000, 2),
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _SANE_REQUEST_ID.fullmatch(value):
            return str(value.decode("ascii"))
    return uuid.uuid4().hex
