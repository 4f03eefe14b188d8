"""Database engines: creation and engine-specific tuning (SQLite, PostgreSQL). Nothing above knows the engine."""

from __future__ import annotations

import re
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from service.settings import MASK, Settings

# What the service calls itself on the server (pg_stat_activity.application_name),
# unless the URL says otherwise (?application_name=...).
APPLICATION_NAME = "task-api"


def database_url(settings: Settings) -> URL:
    """DATABASE_URL parsed, with DATABASE_PASSWORD (e.g. from a secret file) filled in."""
    url = make_url(settings.database_url)
    if settings.database_password is not None:
        url = url.set(password=settings.database_password.get_secret_value())
    return url


def create_db_engine(settings: Settings, *, pool_size: int | None = None) -> Engine:
    """Build the engine. Does not connect: nothing touches the database until first use.

    The pool has `pool_size` connections (default: one per threadpool thread) and
    no overflow: a request can never queue for a connection behind the threadpool.
    """
    url = database_url(settings)
    pool_options: dict[str, Any] = {"pool_size": pool_size or settings.threadpool_size, "max_overflow": 0}
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_pre_ping=False, **pool_options)
        database_file = Path(url.database or "")
        event.listen(engine, "connect", _tune_sqlite_connection)
        event.listen(engine, "connect", partial(_remember_database_file, database_file))
        event.listen(engine, "checkout", partial(_check_database_file, database_file))
        event.listen(engine, "handle_error", _treat_sqlite_file_errors_as_disconnects)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": settings.database_connect_timeout}
    if "application_name" not in url.query:
        connect_args["application_name"] = APPLICATION_NAME
    return create_engine(
        url,
        connect_args=connect_args,
        # A server restart or failover leaves dead connections in the pool; a
        # round trip on checkout finds them and reconnects, so a request gets a
        # working connection or a quick 503, never a half-dead one.
        pool_pre_ping=True,
        pool_recycle=settings.database_pool_recycle,
        **pool_options,
    )


def ping(engine: Engine) -> None:
    """One round trip; raises SQLAlchemyError when the database does not answer."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def describe_error(exc: BaseException, settings: Settings) -> str:
    """A driver error as one line (libpq's messages span lines), the password never in it."""
    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
    # Drivers do not echo passwords today; this keeps it so whatever they say.
    for secret in _passwords(settings):
        reason = reason.replace(secret, MASK)
    return re.sub(r"\(Background on this error at: [^)]*\)", "", reason).strip()


def _passwords(settings: Settings) -> list[str]:
    url = database_url(settings)
    return [url.password] if isinstance(url.password, str) and url.password else []


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
