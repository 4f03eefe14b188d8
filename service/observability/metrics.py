"""Prometheus metrics: what the service measures (HTTP requests, the database pool, the build) and their text.

Every app gets its own `Metrics` on its own registry, so tests build isolated
apps. Label values come from bounded sets only, never straight from a client:
the route template (or "" when no route matched), a known method (or
"_OTHER") and the status code the service sent.

With PROMETHEUS_MULTIPROC_DIR set (several workers; multiprocess.py prepares
it) prometheus-client keeps every value in per-process files there, and a
scrape answered by any worker adds up those of all workers. Process metrics
(CPU, memory, file descriptors) describe one process, so they are left out in
that mode; docs/observability.md says what is summed and how.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import Engine, event
from sqlalchemy.pool import QueuePool
from starlette.types import Scope

# OpenTelemetry's HTTP semantic conventions: the explicit bucket boundaries of
# http.server.request.duration (seconds), and the methods a label may name.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
KNOWN_METHODS = frozenset({"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"})
OTHER_METHOD = "_OTHER"
# Requests no route matched (404s for any path, 413s refused before routing)
# share this value; an OpenTelemetry pipeline exporting to Prometheus leaves the
# label out there, which Prometheus treats as the same "".
UNMATCHED_ROUTE = ""


def _method(scope: Scope) -> str:
    method: str = scope["method"]
    return method if method in KNOWN_METHODS else OTHER_METHOD


class RequestMetrics:
    """The request observer (middleware/request_context.py) behind the HTTP metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._active = Gauge(
            "http_server_active_requests",
            "Number of active HTTP server requests.",
            ["http_request_method"],
            multiprocess_mode="livesum",
            registry=registry,
        )
        # Labelled children, resolved once per label set: labels() validates and
        # locks on every call. Bounded like the label values themselves; only the
        # event loop's thread touches them.
        self._durations: dict[tuple[str, str, int], Histogram] = {}
        self._actives: dict[str, Gauge] = {}

    def _active_requests(self, method: str) -> Gauge:
        child = self._actives.get(method)
        if child is None:
            child = self._actives[method] = self._active.labels(method)
        return child

    def request_started(self, scope: Scope, request_id: str) -> None:  # noqa: ARG002 (the observer protocol)
        self._active_requests(_method(scope)).inc()

    def request_finished(self, scope: Scope, status_code: int, seconds: float) -> None:
        method = _method(scope)
        self._active_requests(method).dec()
        # The template ("/tasks/{task_id}") of the route the router matched; never the path.
        route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
        key = (method, route, status_code)
        child = self._durations.get(key)
        if child is None:
            child = self._durations[key] = self._duration.labels(method, route, str(status_code))
        child.observe(seconds)


class PoolMetrics:
    """Gauges of a SQLAlchemy QueuePool (SQLite's and PostgreSQL's alike), kept current by pool events.

    Events rather than reading the pool at scrape time: with several workers the
    scrape is answered by one of them, and each must have written its own value.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._size = Gauge(
            "db_pool_size",
            "Connections the database pool keeps for reuse (SQLAlchemy pool_size).",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self._checked_out = Gauge(
            "db_pool_checked_out",
            "Database connections checked out of the pool, in use right now.",
            multiprocess_mode="livesum",
            registry=registry,
        )

    def watch(self, engine: Engine) -> bool:
        """Follow `engine`'s pool; False (and no gauges move) if it is not a QueuePool."""
        if not isinstance(engine.pool, QueuePool):
            return False
        self._size.set(engine.pool.size())

        # engine.pool, not the pool of today: dispose() replaces it (and carries these listeners over).
        def checked_out(*_args: object) -> None:
            pool = engine.pool
            if isinstance(pool, QueuePool):
                self._checked_out.set(pool.checkedout())

        def checked_in(*_args: object) -> None:
            pool = engine.pool
            if isinstance(pool, QueuePool):
                # SQLAlchemy fires "checkin" just before the connection goes back: it still counts as out.
                self._checked_out.set(max(pool.checkedout() - 1, 0))

        event.listen(engine, "checkout", checked_out)
        event.listen(engine, "checkin", checked_in)
        return True


class Metrics:
    """Everything /metrics reports for one app, and the text of a scrape."""

    def __init__(self, *, version: str, revision: str, multiprocess_dir: str | None) -> None:
        self.multiprocess_dir = multiprocess_dir
        # No *_created series (one per histogram child, doubling the count):
        # multiprocess mode has none either, so the series are the same whatever WORKERS.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.requests = RequestMetrics(self.registry)
        self.pool = PoolMetrics(self.registry)
        build_info = Gauge(
            "task_api_build_info",
            "The running build; always 1.",
            ["version", "revision"],
            multiprocess_mode="max",
            registry=self.registry,
        )
        build_info.labels(version, revision).set(1)
        if multiprocess_dir is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The scrape's body and content type: Prometheus text, or OpenMetrics when the scraper asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self._scraped_registry()), content_type

    def _scraped_registry(self) -> CollectorRegistry:
        if self.multiprocess_dir is None:
            return self.registry
        # Every worker's files, read at each scrape (prometheus-client's documented pattern).
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        PlatformCollector(registry=registry)  # python_info: the same for every worker
        return registry

    def close(self) -> None:
        """At the worker's exit: its live gauges (in-flight requests, pool) stop counting in the sums."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]
