"""The Task model family: shared base, table model, create/update inputs, public output and a page of results."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import BigInteger, CheckConstraint, Column, DateTime, Enum, Identity, Integer, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from service.domain.metadata import TableModel

TITLE_MAX = 200
DESCRIPTION_MAX = 2000


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    done = "done"


class TaskPriority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite stores them naive, PostgreSQL as timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# RFC 3339 full-date, what the schema's `format: date` promises.
_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_as_text(value: Any) -> Any:
    # Lax validation reads a number, or a string of digits, as a Unix timestamp
    # (0 and "0" -> 1970-01-01); the contract (and the schema) takes a
    # YYYY-MM-DD string or null, nothing else.
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str) or not _FULL_DATE.fullmatch(value):
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD) or null")
    return value


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    status: TaskStatus = TaskStatus.todo
    priority: TaskPriority = TaskPriority.medium
    due_date: date | None = None


def _enum_column(enum: type[StrEnum], name: str) -> Enum:
    # VARCHAR plus a named CHECK on every engine rather than a PostgreSQL enum
    # type, so adding a value later is a reviewed CHECK change, not an ALTER TYPE.
    return Enum(
        enum,
        name=name,  # the CHECK is ck_tasks_<name> (service/domain/metadata.py)
        native_enum=False,
        create_constraint=True,
        values_callable=lambda members: [member.value for member in members],
    )


class Task(TaskBase, TableModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        # What the API validates, the database enforces too, so a row written
        # around the API (a script, a fork's bug) is still valid. SQLite does
        # not enforce VARCHAR lengths; these CHECKs do, on both engines.
        CheckConstraint(f"length(title) BETWEEN 1 AND {TITLE_MAX}", name="title_length"),
        CheckConstraint(f"length(description) <= {DESCRIPTION_MAX}", name="description_length"),
        # Ids are never reused after a delete (SQLite AUTOINCREMENT, like an identity column).
        {"sqlite_autoincrement": True},
    )

    # BIGINT identity on PostgreSQL; on SQLite exactly INTEGER, the only type
    # that makes the primary key the table's rowid (auto-assigned, 64-bit anyway).
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True),
    )
    status: TaskStatus = Field(default=TaskStatus.todo, sa_type=_enum_column(TaskStatus, "status"), nullable=False)
    priority: TaskPriority = Field(
        default=TaskPriority.medium, sa_type=_enum_column(TaskPriority, "priority"), nullable=False
    )
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class TaskCreate(TaskBase):
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    _trim_title = field_validator("title", mode="before")(_strip)
    _due_date_as_text = field_validator("due_date", mode="before")(_date_as_text)


_NOT_NULLABLE_ON_UPDATE = ("title", "status", "priority")


def _drop_null_from_schema(schema: dict[str, Any]) -> None:
    # The published schema must not offer null where _not_null refuses it:
    # clients and fuzzers generate requests from it.
    for name in _NOT_NULLABLE_ON_UPDATE:
        field = schema["properties"][name]
        field.update(next(choice for choice in field.pop("anyOf") if choice.get("type") != "null"))


class TaskUpdate(SQLModel):
    """Every field optional; only the fields a client sends are applied (exclude_unset)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_from_schema)  # type: ignore[assignment]

    title: str | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    due_date: date | None = None

    _trim_title = field_validator("title", mode="before")(_strip)
    _due_date_as_text = field_validator("due_date", mode="before")(_date_as_text)

    @field_validator(*_NOT_NULLABLE_ON_UPDATE)
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Runs only for values a client sent: omitting a field is fine, nulling it is not.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class TaskPublic(TaskBase):
    id: int
    created_at: datetime
    updated_at: datetime


class TaskPage(SQLModel):
    items: list[TaskPublic]
    total: int
    limit: int
    offset: int
