"""Task use-cases: create, read, list, update, delete, with the rules that go with them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from service.domain.errors import TaskNotFound
from service.domain.tasks import TaskCreate, TaskPage, TaskPriority, TaskPublic, TaskStatus, TaskUpdate

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class TaskRepository(Protocol):
    """What the service needs from storage. Each call is one transaction."""

    def add(self, values: Mapping[str, Any]) -> TaskPublic: ...

    def get(self, task_id: int) -> TaskPublic | None: ...

    def list(
        self, *, limit: int, offset: int, status: TaskStatus | None, priority: TaskPriority | None
    ) -> tuple[list[TaskPublic], int]: ...

    def update(self, task_id: int, changes: Mapping[str, Any]) -> TaskPublic | None: ...

    def delete(self, task_id: int) -> bool: ...


class TaskService:
    def __init__(self, repository: TaskRepository, *, clock: Clock = utc_now) -> None:
        self._repository = repository
        self._clock = clock

    def create(self, data: TaskCreate) -> TaskPublic:
        now = self._clock()
        return self._repository.add({**data.model_dump(), "created_at": now, "updated_at": now})

    def get(self, task_id: int) -> TaskPublic:
        task = self._repository.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def list(
        self,
        *,
        limit: int,
        offset: int,
        status: TaskStatus | None = None,
        priority: TaskPriority | None = None,
    ) -> TaskPage:
        tasks, total = self._repository.list(limit=limit, offset=offset, status=status, priority=priority)
        return TaskPage(items=tasks, total=total, limit=limit, offset=offset)

    def update(self, task_id: int, data: TaskUpdate) -> TaskPublic:
        changes = data.model_dump(exclude_unset=True)
        if not changes:
            # Nothing to apply: report the task as it is, without touching updated_at.
            return self.get(task_id)
        task = self._repository.update(task_id, {**changes, "updated_at": self._clock()})
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def delete(self, task_id: int) -> None:
        if not self._repository.delete(task_id):
            raise TaskNotFound(task_id)
