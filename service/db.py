"""Database engine: creation, engine-specific tuning and schema creation. Nothing above this layer knows the engine."""

from __future__ import annotations

from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

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
        database_file = Path(url.database or "")
        event.listen(engine, "connect", _tune_sqlite_connection)
        event.listen(engine, "connect", partial(_remember_database_file, database_file))
        event.listen(engine, "checkout", partial(_check_database_file, database_file))
        event.listen(engine, "handle_error", _treat_sqlite_file_errors_as_disconnects)
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


# A pooled SQLite connection keeps its file open even after the file or its
# directory is deleted or replaced (a volume unmounted, a directory moved):
# writes would then "succeed" into a file nobody will ever read. Each checkout
# compares the path's inode with the one the connection opened; on a mismatch
# the pool drops the connection and opens the path again, which fails (503)
# while the file is gone and works again once it is back.
_INODE = "database_inode"


def _remember_database_file(database_file: Path, _dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    with suppress(OSError):
        record.info[_INODE] = database_file.stat().st_ino


def _check_database_file(
    database_file: Path, _dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    try:
        inode = database_file.stat().st_ino
    except OSError:
        raise DisconnectionError("the database file is gone") from None
    if inode != record.info.get(_INODE):
        raise DisconnectionError("the database file was replaced")


# Errors after which a SQLite connection is no use (its file became
# unreachable): the pool discards it rather than handing it out again.
_SQLITE_FILE_ERRORS = ("unable to open database file", "disk i/o error")


def _treat_sqlite_file_errors_as_disconnects(context: ExceptionContext) -> None:
    if any(message in str(context.original_exception).lower() for message in _SQLITE_FILE_ERRORS):
        context.is_disconnect = True


def create_schema(engine: Engine) -> None:
    """Create missing tables (and, for SQLite, the database file's directory)."""
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        Path(engine.url.database).parent.mkdir(parents=True, exist_ok=True)
    Task.metadata.create_all(engine)
