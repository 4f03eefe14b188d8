"""Start-up: settings read and checked against the address and storage they name before the server listens.

Every entry point goes through load_settings_or_exit(), so a bad value stops the
process at once with one line naming the variable, instead of a half-working
server or a traceback from inside uvicorn's lifespan. The cheap checks come
first and this module imports only the settings at import time: a bad value
costs a fraction of a second, not the import of the whole application.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import socket
import sys
from pathlib import Path

from service.settings import InvalidSettings, Settings, load_settings


def check_listen_address(settings: Settings) -> None:
    """Raise InvalidSettings when HOST:PORT cannot be listened on (unknown host, port taken, no permission).

    uvicorn would find out only after the application started (database created),
    then exit with an error that names neither variable.
    """
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise InvalidSettings(f"HOST: cannot resolve {settings.host!r}: {exc}") from None
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by the previous process is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            variable = "PORT" if exc.errno in (errno.EADDRINUSE, errno.EACCES) else "HOST"
            raise InvalidSettings(f"{variable}: cannot listen on {settings.host}:{settings.port}: {exc}") from None


def check_auth_extra(settings: Settings) -> None:
    """Raise InvalidSettings when AUTH_ISSUER is set but PyJWT/cryptography (the `auth` extra) are missing."""
    if settings.auth_enabled and not all(importlib.util.find_spec(name) for name in ("jwt", "cryptography")):
        raise InvalidSettings(
            "AUTH_ISSUER: token verification needs the `auth` extra (PyJWT, cryptography): "
            "`uv sync --extra auth`, or build the image with --build-arg EXTRAS=auth"
        )


def check_storage(settings: Settings) -> None:
    """Raise InvalidSettings when MODELS_DIR or DATABASE_URL cannot work.

    A missing models directory is allowed (it may be mounted later; /ready
    reports it), a models path that is a file is not. A SQLite file must open
    and is migrated here (one instance owns it; this also creates its
    directory and adopts a 0.1.0 file). A server database must answer with
    these credentials; it is never migrated by a serving process (`service
    migrate` does that), and /ready reports pending migrations.
    """
    if settings.models_dir.exists() and not settings.models_dir.is_dir():
        raise InvalidSettings(f"MODELS_DIR: {settings.models_dir} is not a directory")
    # Deferred: SQLAlchemy, Alembic and the models are most of the start-up cost,
    # and every check above needs none of them.
    if settings.sqlite_file is not None:
        _check_database_file(settings.sqlite_file)
        from service.schema import MigrationError, upgrade_to_head  # noqa: PLC0415

        try:
            upgrade_to_head(settings)
        except MigrationError as exc:
            raise InvalidSettings(f"DATABASE_URL: cannot open the database: {exc}") from None
        return
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from service.db import create_db_engine, describe_error, ping  # noqa: PLC0415

    engine = create_db_engine(settings, pool_size=1)
    try:
        ping(engine)
    except SQLAlchemyError as exc:
        reason = describe_error(exc, settings)
        raise InvalidSettings(f"DATABASE_URL: cannot connect to {settings.masked_database_url}: {reason}") from None
    finally:
        engine.dispose()


def _check_database_file(database_file: Path) -> None:
    directory = database_file.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidSettings(f"DATABASE_URL: cannot create the database directory: {exc}") from None
    # SQLite in WAL mode creates the -wal and -shm files next to the database.
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidSettings(f"DATABASE_URL: the database directory {directory} is not writable")
    if database_file.exists() and not database_file.is_file():
        raise InvalidSettings(f"DATABASE_URL: cannot open the database: {database_file} is not a regular file")


def load_settings_or_exit(*, listen: bool = False, storage: bool = True) -> Settings:
    """Settings from the environment, checked; or exit 2 with one line on stderr (no traceback).

    listen=True also checks that HOST:PORT can be bound: only for the process
    that will bind it (uvicorn's worker processes inherit the parent's socket).
    storage=False skips check_storage (`service migrate` reports its own errors).
    """
    try:
        settings = load_settings()
        if listen:
            check_listen_address(settings)
        check_auth_extra(settings)
        # Logging before the storage checks: migrating a SQLite file logs events.
        from service.log import configure_logging  # noqa: PLC0415

        configure_logging(level=settings.log_level, log_format=settings.log_format)
        if storage:
            check_storage(settings)
    except InvalidSettings as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return settings
