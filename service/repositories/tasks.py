"""SQL task repository: every query on the tasks table, one transaction per call."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from service.domain.errors import StorageUnavailable
from service.domain.tasks import Task, TaskPriority, TaskStatus


class SqlTaskRepository:
    """Satisfies service.services.tasks.TaskRepository for any SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        # Objects stay readable after commit (expire_on_commit=False) so callers
        # can serialise them without another round trip.
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                yield session
        except OperationalError as exc:
            raise StorageUnavailable(str(exc.orig)) from exc

    def add(self, task: Task) -> Task:
        with self._transaction() as session:
            session.add(task)
            session.flush()
        return task

    def get(self, task_id: int) -> Task | None:
        with self._transaction() as session:
            return session.get(Task, task_id)

    def list(
        self, *, limit: int, offset: int, status: TaskStatus | None, priority: TaskPriority | None
    ) -> tuple[list[Task], int]:
        conditions = []
        if status is not None:
            conditions.append(col(Task.status) == status)
        if priority is not None:
            conditions.append(col(Task.priority) == priority)
        page = select(Task).where(*conditions).order_by(col(Task.id)).limit(limit).offset(offset)
        count = select(func.count()).select_from(Task).where(*conditions)
        with self._transaction() as session:
            return list(session.scalars(page)), session.scalar(count) or 0

    def update(self, task_id: int, changes: Mapping[str, Any]) -> Task | None:
        # One UPDATE ... RETURNING: concurrent patches each apply atomically,
        # with no read-modify-write window between them.
        statement = update(Task).where(col(Task.id) == task_id).values(**changes).returning(Task)
        with self._transaction() as session:
            return session.scalars(statement).one_or_none()

    def delete(self, task_id: int) -> bool:
        statement = delete(Task).where(col(Task.id) == task_id).returning(col(Task.id))
        with self._transaction() as session:
            return session.scalars(statement).one_or_none() is not None
