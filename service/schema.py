"""The schema's version: upgrade to the code's head under a lock, adopt a 0.1.0 SQLite file, report for /ready.

Alembic is configured here, from the package's own path (service/migrations),
so `service migrate` works wherever the package is installed: the image has no
pyproject.toml. One process migrates at a time:

- PostgreSQL: a session advisory lock, held on its own connection for the
  whole upgrade; the others wait for it (MIGRATE_LOCK_TIMEOUT), then find the
  schema at head and do nothing.
- SQLite: an flock() on the database file (SQLite's own locks are fcntl()
  locks, which flock() does not touch), and the upgrade in one transaction
  (BEGIN IMMEDIATE), so a failed migration leaves the file as it was.

Serving never imports Alembic while the schema is at head: the revisions are
read from the revision files' own `revision`/`down_revision` lines and the
database's from alembic_version with one query. Importing Alembic (which loads
every dialect's DDL support) cost every start 0.13 s of CPU and 9 MB of RSS;
it is imported only when there is something to migrate.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from service.db import create_db_engine, describe_error
from service.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The revision that is exactly release 0.1.0's create_all schema.
LEGACY_REVISION = "0001"
LEGACY_COLUMNS = frozenset({"id", "title", "description", "status", "priority", "due_date", "created_at", "updated_at"})
# pg_advisory_lock key: a signed 64-bit integer (PostgreSQL's bigint) derived from
# the project's name, so whatever a fork renames it to, the key still fits.
# Advisory locks are per database.
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.blake2b(b"task-api migrations", digest_size=8).digest(), "big", signed=True)
LOCK_POLL_SECONDS = 0.2


class MigrationError(Exception):
    """A migration could not run; the message is one line, fit for the operator, without the password."""


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # noqa: PLC0415  (see the module docstring)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@dataclass(frozen=True)
class Revisions:
    """The revisions this code ships: the one head, and every revision it knows."""

    head: str
    known: frozenset[str]

    def problem(self, current: str | None) -> str | None:
        """Why a database at `current` cannot serve this code, or None when it can.

        At head: fine. At a revision this code does not know: a newer release
        migrated it already, and that release is expand/contract, so this one
        still works on it (a rolling deploy keeps old replicas serving). At an
        older revision, or none: the schema lacks what this code needs.
        """
        if current == self.head or (current is not None and current not in self.known):
            return None
        where = "has no schema" if current is None else f"is at revision {current}"
        return f"pending migrations: the database {where}, the code needs {self.head}; run `service migrate`"


@cache
def code_revisions() -> Revisions:
    """The head and every revision, from the `revision` and `down_revision` assignments of versions/*.py.

    What Alembic's ScriptDirectory computes, without importing Alembic;
    tests/migrations checks that the two agree.
    """
    parents: dict[str, tuple[str, ...]] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        assigned = {
            target.id: node.value
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision")
        }
        if "revision" in assigned:
            down = ast.literal_eval(assigned.get("down_revision", ast.Constant(None)))
            parents[ast.literal_eval(assigned["revision"])] = (
                tuple(down) if isinstance(down, tuple | list) else ((down,) if down else ())
            )
    referenced = {parent for ancestors in parents.values() for parent in ancestors}
    heads = sorted(set(parents) - referenced)
    if len(heads) != 1:
        raise MigrationError(f"the migrations have {len(heads)} heads ({', '.join(heads)}); merge them into one")
    return Revisions(head=heads[0], known=frozenset(parents))


def current_revision(connection: Connection) -> str | None:
    """The database's revision (alembic_version), None when it has none; several rows (branches) read as one."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    versions = sorted(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
    return "+".join(versions) or None


def upgrade_to_head(settings: Settings) -> tuple[str | None, str]:
    """Migrate DATABASE_URL to the code's head; the revisions before and after. Raises MigrationError.

    Idempotent: at head it changes nothing. A database newer than the code is
    left alone (see Revisions.problem).
    """
    revisions = code_revisions()
    at_head = _revision_if_at_head(settings, revisions.head)
    if at_head is not None:
        return at_head, at_head
    from alembic import command  # noqa: PLC0415  (see the module docstring)
    from alembic.util import CommandError  # noqa: PLC0415

    engine: Engine | None = None
    try:
        engine = _migration_engine(settings)
        with _migration_lock(engine, settings), engine.begin() as connection:
            before = current_revision(connection)
            if before is not None and before not in revisions.known:
                log.warning("schema_newer_than_code", database_revision=before, code_head=revisions.head)
                return before, before
            if before is None and _is_legacy_database(connection):
                command.stamp(alembic_config(connection), LEGACY_REVISION)
                log.info("schema_adopted", revision=LEGACY_REVISION, reason="tables of release 0.1.0")
                before = LEGACY_REVISION
            if before != revisions.head:
                command.upgrade(alembic_config(connection), "head")
            after = current_revision(connection) or ""
    except (SQLAlchemyError, CommandError, OSError) as exc:
        raise MigrationError(describe_error(exc, settings)) from exc
    finally:
        if engine is not None:
            engine.dispose()
    if before != after:
        log.info("schema_migrated", before=before, after=after)
    return before, after


def _revision_if_at_head(settings: Settings, head: str) -> str | None:
    """`head` when the database is already there (a read, no lock, no Alembic), else None: migrate."""
    if settings.sqlite_file is not None and not settings.sqlite_file.is_file():
        return None
    engine = create_db_engine(settings, pool_size=1)
    try:
        with engine.connect() as connection:
            return head if current_revision(connection) == head else None
    except SQLAlchemyError:
        return None  # the migration path reports it, under the lock
    finally:
        engine.dispose()


def _migration_engine(settings: Settings) -> Engine:
    if settings.sqlite_file is not None:
        settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        engine = create_db_engine(settings, pool_size=1)
        # pysqlite runs DDL outside any transaction; take SQLite's transactions
        # over, so the whole upgrade (batch table copies included) commits or
        # rolls back as one, holding the write lock from its start.
        event.listen(engine, "connect", _sqlite_manual_transactions)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_db_engine(settings, pool_size=2)  # the lock's connection and the migration's


def _sqlite_manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def _migration_lock(engine: Engine, settings: Settings) -> Iterator[None]:
    timeout = settings.migrate_lock_timeout
    if settings.sqlite_file is not None:
        with _file_lock(settings.sqlite_file, timeout):
            yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        _wait_for(
            lambda: bool(
                connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar()
            ),
            timeout,
        )
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})


@contextmanager
def _file_lock(database_file: Path, timeout: int) -> Iterator[None]:
    descriptor = os.open(database_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:

        def try_lock() -> bool:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _wait_for(try_lock, timeout)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _wait_for(acquire: Callable[[], bool], timeout: int) -> None:
    deadline = time.monotonic() + timeout
    waiting = False
    while not acquire():
        if time.monotonic() >= deadline:
            raise MigrationError(
                f"another migration held the lock for {timeout} s (MIGRATE_LOCK_TIMEOUT); "
                "wait for it to finish, or raise MIGRATE_LOCK_TIMEOUT"
            )
        if not waiting:
            log.info("migration_lock_wait", timeout_s=timeout)
            waiting = True
        time.sleep(LOCK_POLL_SECONDS)


def _is_legacy_database(connection: Connection) -> bool:
    """True for a SQLite file release 0.1.0 made: its tasks table, no alembic_version (the caller checked)."""
    inspector = inspect(connection)
    if not inspector.has_table("tasks"):
        return False
    columns = {column["name"] for column in inspector.get_columns("tasks")}
    if connection.dialect.name != "sqlite" or columns != LEGACY_COLUMNS:
        raise MigrationError(
            "the database has a tasks table but no alembic_version, and it is not a SQLite file of release 0.1.0 "
            f"(columns: {', '.join(sorted(columns))}); refusing to guess its revision"
        )
    return True
