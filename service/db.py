"""Database engine: creation, engine-specific tuning and schema creation. Nothing above this layer knows the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from service.domain.tasks import Task
from service.settings import Settings


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine. Does not connect: nothing touches the database until first use."""
    url = make_url(settings.database_url)
    # One connection per thread that runs database work, and no overflow: a
    # request can never queue for a connection behind the threadpool.
    pool_options: dict[str, Any] = {"pool_size": settings.threadpool_size, "max_overflow": 0, "pool_pre_ping": False}
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool_options)
        event.listen(engine, "connect", _tune_sqlite_connection)
        return engine
    return create_engine(url, **pool_options)


def _tune_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer and vice versa.
    cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode is durable across application crashes; only a power
    # loss or OS crash can lose the last transactions, never corrupt the file.
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Wait up to 5 s for the single writer lock instead of failing at once.
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create missing tables (and, for SQLite, the database file's directory)."""
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    Task.metadata.create_all(engine)
