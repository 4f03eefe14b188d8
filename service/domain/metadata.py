"""The service's table metadata: its own MetaData, with every constraint and index named by one convention.

Named constraints are what migrations refer to (a CHECK is dropped or changed
by name), and a convention makes the names the same on every engine and in
every fork: ck_tasks_status, not a name each database invents.
"""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TableModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of every table model: tables land in `metadata` (what Alembic compares), not SQLModel's global one."""
