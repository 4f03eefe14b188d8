"""Byte-compile the standard library modules the service's runtime stack imports, and nothing else.

Runs in the `stdlib-bytecode` stage (docker/Dockerfile) with the production
environment's python, BEFORE the service code exists in the build, so a code
change never re-runs it. It imports the stack the service runs on (uvicorn
with uvloop and httptools, FastAPI, SQLModel on SQLite and PostgreSQL
(psycopg), Alembic, structlog, pydantic-settings) and the standard library modules the service imports
itself, then writes unchecked-hash .pyc files (valid whatever the layers'
timestamps) for every standard library module that was loaded into OUTPUT,
under their absolute paths, so the production stage copies OUTPUT over /.

The official images ship the standard library without bytecode; compiling all
of it costs ~10 MB, this subset about half, and a module outside it still
imports (compiled on demand). tests/container/test_runtime.py checks that the
running service imports no standard library module without bytecode.

Usage: python -B stdlib_bytecode.py OUTPUT
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import py_compile
import sys

# The runtime stack, as the service loads it (uvicorn picks its loop and HTTP
# implementation at start-up, so those are imported by name).
STACK = [
    "fastapi",
    "fastapi.encoders",
    "fastapi.openapi.utils",
    "fastapi.routing",
    "fastapi.responses",
    "starlette.middleware.errors",
    "starlette.middleware.exceptions",
    "pydantic",
    "pydantic_settings",
    "sqlmodel",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlalchemy.orm",
    "sqlalchemy.pool",
    "structlog",
    "structlog.stdlib",
    "structlog.processors",
    "uvicorn",
    "uvicorn.config",
    "uvicorn.lifespan.on",
    "uvicorn.loops.uvloop",
    "uvicorn.main",
    "uvicorn.middleware.proxy_headers",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.server",
    "anyio._backends._asyncio",
    "anyio.to_thread",
    "prometheus_client",
    "prometheus_client.multiprocess",
    # Migrations (service/schema.py, at every SQLite start-up) and PostgreSQL.
    "alembic.command",
    "alembic.runtime.migration",
    "alembic.script",
    "alembic.autogenerate",
    "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg",
    # What service/ imports from the standard library directly.
    "contextlib",
    "dataclasses",
    "datetime",
    "enum",
    "fcntl",
    "functools",
    "hashlib",
    "json",
    "logging",
    "pathlib",
    "re",
    "signal",
    "sqlite3",
    "stat",
    "urllib.request",
    "uuid",
]


# Imported by tracing when the image has the `otel` extra (EXTRAS=otel); skipped when absent.
OPTIONAL_STACK = [
    "opentelemetry.sdk.trace",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk.resources",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.instrumentation.sqlalchemy.engine",
]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    output = sys.argv[1]
    for name in STACK:
        importlib.import_module(name)
    for name in OPTIONAL_STACK:
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(name)
    stdlib = os.path.dirname(os.__file__)
    sources = sorted(
        module.__file__
        for module in list(sys.modules.values())
        if (getattr(module, "__file__", None) or "").startswith(stdlib + "/")
        and module.__file__.endswith(".py")
        and "/site-packages/" not in module.__file__
        # Modules frozen into the interpreter (os, io, codecs, ...) never read a .pyc.
        and getattr(module.__spec__, "origin", None) != "frozen"
    )
    for source in sources:
        cached = importlib.util.cache_from_source(source)
        target = output + cached
        os.makedirs(os.path.dirname(target), exist_ok=True)
        py_compile.compile(
            source, cfile=target, doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
    print(f"stdlib_bytecode: {len(sources)} standard library modules compiled into {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
