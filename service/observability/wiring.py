"""What create_app wires in for observability: the metrics, the tracing, and their hooks into the app's lifecycle."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.observability.metrics import Metrics
from service.observability.multiprocess import VARIABLE as MULTIPROCESS_DIR_VARIABLE
from service.observability.tracing import NO_TELEMETRY, Tracing

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig
    from sqlalchemy import Engine

    from service.middleware.request_context import RequestObserver
    from service.settings import Settings


@dataclass(frozen=True)
class Observability:
    """Metrics unless METRICS_ENABLED=false; tracing only when OTEL_* asks for it (None when off)."""

    metrics: Metrics | None
    tracing: Tracing | None

    @classmethod
    def create(cls, settings: Settings, engine: Engine, environ: Mapping[str, str] = os.environ) -> Observability:
        metrics = None
        if settings.metrics_enabled:
            metrics = Metrics(
                version=settings.service_version,
                revision=settings.service_revision,
                # prometheus-client's own variable; it also read it, at import, to pick its storage.
                multiprocess_dir=environ.get(MULTIPROCESS_DIR_VARIABLE),
            )
            metrics.pool.watch(engine)
        tracing = Tracing.from_environment(engine, service_version=settings.service_version, environ=environ)
        return cls(metrics=metrics, tracing=tracing)

    @property
    def observers(self) -> list[RequestObserver]:
        """For RequestContextMiddleware: told about every request."""
        observers: list[RequestObserver] = []
        if self.metrics is not None:
            observers.append(self.metrics.requests)
        if self.tracing is not None:
            observers.append(self.tracing.request_observer)
        return observers

    def fastapi_telemetry(self) -> TelemetryConfig:
        return self.tracing.fastapi_telemetry() if self.tracing is not None else NO_TELEMETRY

    def start(self) -> None:
        """In the serving process, at lifespan startup: each worker exports its own spans."""
        if self.tracing is not None:
            self.tracing.start()

    async def stop(self) -> None:
        if self.tracing is not None:
            await self.tracing.shutdown()
        if self.metrics is not None:
            self.metrics.close()
