"""Composition root: create_app(settings) builds and wires every object; `app` is built lazily on first access."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service.api.auth import document_security
from service.api.dependencies import Services
from service.api.errors import register_error_handlers
from service.api.routes import health, model_files, tasks
from service.api.routes import metrics as metrics_route
from service.auth.guard import AccessGuard, scope_names
from service.db import create_db_engine
from service.log import configure_logging
from service.middleware.body_limit import BodySizeLimitMiddleware
from service.middleware.concurrency_limit import ConcurrencyLimitMiddleware
from service.middleware.request_context import RequestContextMiddleware
from service.observability.tracing import tracing_request
from service.observability.wiring import Observability
from service.repositories.database import SqlDatabaseProbe
from service.repositories.model_files import ModelDirectory
from service.repositories.tasks import SqlTaskRepository
from service.schema import code_revisions, upgrade_to_head
from service.services.health import ReadinessService
from service.services.model_files import ModelFileService
from service.services.tasks import TaskService
from service.settings import Settings
from service.startup import load_settings_or_exit

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. With no settings, read them from the environment (uvicorn --factory)."""
    if settings is None:
        settings = load_settings_or_exit()
    engine = create_db_engine(settings)
    models = ModelDirectory(settings.models_dir)
    observability = Observability.create(settings, engine)
    database = SqlDatabaseProbe(engine, code_revisions())
    access_guard = _access_guard(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in this pool; it matches the connection pool size.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        observability.start()
        if settings.sqlite_file is not None:
            # One instance owns a SQLite file: it migrates itself (a no-op at head).
            await anyio.to_thread.run_sync(upgrade_to_head, settings)
        else:
            # A server database is migrated by `service migrate`, never by a serving
            # replica; until then /ready says what is pending.
            await anyio.to_thread.run_sync(database.warn_if_schema_pending)
        log.info("startup_complete", database=engine.url.get_backend_name(), models_dir=str(settings.models_dir))
        # The issuer's keys, fetched in the background so the first request need not wait.
        key_warm_up = asyncio.create_task(access_guard.warm_up()) if access_guard else None
        try:
            yield
        finally:
            if key_warm_up is not None:
                key_warm_up.cancel()
            engine.dispose()
            await observability.stop()
            log.info("shutdown_complete")

    app = FastAPI(
        title="Task API",
        version="0.1.0",
        description="A layered FastAPI service template: tasks in SQL, model files read-only.",
        lifespan=lifespan,
        telemetry=observability.fastapi_telemetry(),
    )
    app.state.services = Services(
        tasks=TaskService(SqlTaskRepository(engine)),
        model_files=ModelFileService(models),
        readiness=ReadinessService(database, models),
    )
    app.state.access_guard = access_guard
    register_error_handlers(app)
    document_security(app, scope_names(settings) if access_guard else None)
    # Added last = outermost: the request context sees (and logs) the 413s and 503s too.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ConcurrencyLimitMiddleware, max_requests=settings.max_concurrent_requests)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, **_cors_options(settings))
    quiet = [metrics_route.METRICS_PATH] if observability.metrics else []
    app.add_middleware(RequestContextMiddleware, observers=observability.observers, quiet_paths=quiet)
    for module in (health, tasks, model_files):
        app.include_router(module.router)
    if observability.metrics is not None:
        app.include_router(metrics_route.router(observability.metrics))
    return app


def _access_guard(settings: Settings) -> AccessGuard | None:
    """Bearer-token checks when AUTH_ISSUER is set; None lets every request through (local work)."""
    if not settings.auth_enabled:
        return None
    # Only now: PyJWT and cryptography come with the `auth` extra (startup.py checks it is installed).
    from service.auth.tokens import build_verifier  # noqa: PLC0415

    return AccessGuard(build_verifier(settings), scopes=scope_names(settings))


def _cors_options(settings: Settings) -> dict[str, Any]:
    # Bearer tokens travel in a header, not cookies: no credentials mode, so
    # a listed origin can never ride a user's cookies either.
    return {
        "allow_origins": list(settings.cors_origins),
        "allow_credentials": False,
        "allow_methods": ["GET", "POST", "PATCH", "DELETE"],
        "allow_headers": ["Authorization", "Content-Type", "X-Request-ID"],
        "expose_headers": ["X-Request-ID", "Location", "Retry-After", "WWW-Authenticate"],
        "max_age": 600,
    }


def __getattr__(name: str) -> FastAPI:
    # `uvicorn service.main:app` looks the attribute up; build it then, not at
    # import, so importing this module never reads the environment.
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    settings = load_settings_or_exit()
    trace_context = tracing_request().enabled
    configure_logging(level=settings.log_level, log_format=settings.log_format, trace_context=trace_context)
    application = create_app(settings)
    globals()["app"] = application
    return application
