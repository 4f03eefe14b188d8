"""In-flight request bound (pure ASGI): past MAX_CONCURRENT_REQUESTS, a JSON 503 with Retry-After.

Without it, a burst queues without limit in front of the threadpool: every
waiting request holds its memory and its client's patience, and the answers
arrive after the clients gave up. Refusing at once is cheaper for both sides
and tells the client when to come back. It counts per process, so it works the
same under every entry point (plain uvicorn included).

Liveness, readiness and metrics are never refused: a busy process is neither
dead nor broken, and a platform that restarts or unlists it for being busy
turns a burst into an outage.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

NEVER_REFUSED = ("/health", "/ready", "/metrics")


class ConcurrencyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_requests: int, exempt_paths: Iterable[str] = NEVER_REFUSED) -> None:
        self.app = app
        self.max_requests = max_requests
        self.exempt_paths = frozenset(exempt_paths)
        self.in_flight = 0  # one event loop per process: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_requests:
            response = JSONResponse(
                {"detail": "Server busy; retry later"}, status_code=503, headers={"Retry-After": "1"}
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
