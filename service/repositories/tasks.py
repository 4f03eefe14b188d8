"""SQL task repository: every query on the tasks table, one transaction per call.

SQLAlchemy Core statements built from the SQLModel table, on a pooled
connection: the same code runs on SQLite and on a server database, and a read
costs one round trip with no ORM session or identity map to build per request.
Writes are single statements (INSERT/UPDATE/DELETE ... RETURNING), so each is
atomic on its own and concurrent requests never interleave inside one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import Connection, Engine, Integer, Row, Select, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import OperationalError

from service.domain.errors import StorageUnavailable
from service.domain.tasks import Task, TaskPriority, TaskPublic, TaskStatus

_TASKS = Task.__table__  # type: ignore[attr-defined]  # SQLModel sets it on table models
_COLUMNS = tuple(_TASKS.columns)

# Statements are built once, with bound parameters: building and cache-keying a
# statement per call costs more than running it. INSERT and UPDATE take their
# columns from the parameters given at execution.
_INSERT = insert(_TASKS).returning(*_COLUMNS)
_GET = select(*_COLUMNS).where(_TASKS.c.id == bindparam("task_id"))
_UPDATE = update(_TASKS).where(_TASKS.c.id == bindparam("match_id")).returning(*_COLUMNS)
_DELETE = delete(_TASKS).where(_TASKS.c.id == bindparam("task_id")).returning(_TASKS.c.id)


@cache
def _list_statements(*, by_status: bool, by_priority: bool) -> tuple[Select[Any], Select[Any]]:
    """The page and count queries for one combination of filters."""
    conditions = []
    if by_status:
        conditions.append(_TASKS.c.status == bindparam("status"))
    if by_priority:
        conditions.append(_TASKS.c.priority == bindparam("priority"))
    page = (
        select(*_COLUMNS)
        .where(*conditions)
        .order_by(_TASKS.c.id)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    count = select(func.count()).select_from(_TASKS).where(*conditions)
    return page, count


class SqlTaskRepository:
    """Satisfies service.services.tasks.TaskRepository for any SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _connection(self, *, write: bool) -> Iterator[Connection]:
        # Writes commit on leaving the block, before the caller answers the
        # client: a failed commit surfaces as an error, never as a success.
        try:
            with self._engine.begin() if write else self._engine.connect() as connection:
                yield connection
        except OperationalError as exc:
            raise StorageUnavailable(str(exc.orig)) from exc

    def add(self, values: Mapping[str, Any]) -> TaskPublic:
        with self._connection(write=True) as connection:
            row = connection.execute(_INSERT, dict(values)).one()
        return _task(row)

    def get(self, task_id: int) -> TaskPublic | None:
        with self._connection(write=False) as connection:
            row = connection.execute(_GET, {"task_id": task_id}).one_or_none()
        return None if row is None else _task(row)

    def list(
        self, *, limit: int, offset: int, status: TaskStatus | None, priority: TaskPriority | None
    ) -> tuple[list[TaskPublic], int]:
        page, count = _list_statements(by_status=status is not None, by_priority=priority is not None)
        parameters = {"limit": limit, "offset": offset, "status": status, "priority": priority}
        # One transaction: the page and the total come from the same snapshot.
        with self._connection(write=False) as connection:
            rows = connection.execute(page, parameters).all()
            total = connection.execute(count, parameters).scalar_one()
        return [_task(row) for row in rows], total

    def update(self, task_id: int, changes: Mapping[str, Any]) -> TaskPublic | None:
        with self._connection(write=True) as connection:
            row = connection.execute(_UPDATE, {**changes, "match_id": task_id}).one_or_none()
        return None if row is None else _task(row)

    def delete(self, task_id: int) -> bool:
        with self._connection(write=True) as connection:
            return connection.execute(_DELETE, {"task_id": task_id}).one_or_none() is not None


def _task(row: Row[Any]) -> TaskPublic:
    # Rows come from our own table through typed columns (enums, dates, aware
    # datetimes), already validated on the way in: validating them again cost
    # ~8 us a row, most of a 20-item page.
    return TaskPublic.model_construct(**row._mapping)
