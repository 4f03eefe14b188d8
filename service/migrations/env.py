"""Alembic environment: the connection a migration runs on, and what autogenerate compares and how it renders.

`service migrate` (service/schema.py) hands in an open connection through
config.attributes["connection"]. The `alembic` command line (autogenerate, from
the repository root, configured by [tool.alembic] in pyproject.toml) has none:
it connects to DATABASE_URL as the service would.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, TypeDecorator

from service.domain import tasks  # noqa: F401  (registers the tables in the metadata)
from service.domain.metadata import metadata


def render_item(type_: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    """Render the plain SQLAlchemy type under our TypeDecorators (UtcDateTime, SQLModel's AutoString).

    A revision that named service.domain.tasks.UtcDateTime would break as soon
    as a fork renamed or removed it; the stored type is the implementation's.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl!r}"  # script.py.mako imports sqlalchemy as sa
    return False  # Alembic's own rendering


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters most things only by copying the table: batch operations do
        # that there and plain ALTERs elsewhere, so one revision serves both engines.
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run `service migrate`")
    given = context.config.attributes.get("connection")
    if given is not None:
        run(given)
        return
    from service.db import create_db_engine  # noqa: PLC0415  (the command line only)
    from service.settings import load_settings  # noqa: PLC0415

    engine = create_db_engine(load_settings(), pool_size=1)
    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()


main()
