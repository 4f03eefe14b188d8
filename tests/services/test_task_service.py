"""TaskService rules, against a dict-backed fake repository and a controllable clock."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.domain.errors import TaskNotFound
from service.domain.tasks import TaskCreate, TaskPriority, TaskPublic, TaskStatus, TaskUpdate
from service.services.tasks import TaskService

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeTaskRepository:
    def __init__(self) -> None:
        self.tasks: dict[int, TaskPublic] = {}
        self.next_id = 1

    def add(self, values: Mapping[str, Any]) -> TaskPublic:
        task = TaskPublic(id=self.next_id, **values)
        self.next_id += 1
        self.tasks[task.id] = task
        return task

    def get(self, task_id: int) -> TaskPublic | None:
        return self.tasks.get(task_id)

    def list(
        self, *, limit: int, offset: int, status: TaskStatus | None, priority: TaskPriority | None
    ) -> tuple[list[TaskPublic], int]:
        matching = [
            task
            for _, task in sorted(self.tasks.items())
            if (status is None or task.status == status) and (priority is None or task.priority == priority)
        ]
        return matching[offset : offset + limit], len(matching)

    def update(self, task_id: int, changes: Mapping[str, Any]) -> TaskPublic | None:
        task = self.tasks.get(task_id)
        if task is not None:
            task = self.tasks[task_id] = task.model_copy(update=changes)
        return task

    def delete(self, task_id: int) -> bool:
        return self.tasks.pop(task_id, None) is not None


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repository() -> FakeTaskRepository:
    return FakeTaskRepository()


@pytest.fixture
def service(repository: FakeTaskRepository, clock: Clock) -> TaskService:
    return TaskService(repository, clock=clock)


def test_create_stamps_both_timestamps_with_the_clock(service: TaskService) -> None:
    task = service.create(TaskCreate(title="t"))

    assert (task.created_at, task.updated_at) == (T0, T0)
    assert task.id == 1


def test_get_missing_raises_task_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound) as raised:
        service.get(42)
    assert raised.value.task_id == 42


def test_update_applies_only_sent_fields_and_advances_updated_at(service: TaskService, clock: Clock) -> None:
    created = service.create(TaskCreate(title="t", description="keep"))
    clock.now = T0 + timedelta(minutes=5)

    updated = service.update(created.id, TaskUpdate(status=TaskStatus.done))

    assert updated.status == TaskStatus.done
    assert updated.description == "keep"
    assert updated.created_at == T0
    assert updated.updated_at == T0 + timedelta(minutes=5)


def test_empty_update_leaves_updated_at_alone(service: TaskService, clock: Clock) -> None:
    created = service.create(TaskCreate(title="t"))
    clock.now = T0 + timedelta(minutes=5)

    assert service.update(created.id, TaskUpdate()).updated_at == T0


def test_update_missing_raises_task_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound):
        service.update(3, TaskUpdate(title="x"))


def test_empty_update_of_missing_task_raises_task_not_found(service: TaskService) -> None:
    with pytest.raises(TaskNotFound):
        service.update(3, TaskUpdate())


def test_delete_removes_and_missing_raises(service: TaskService, repository: FakeTaskRepository) -> None:
    created = service.create(TaskCreate(title="t"))

    service.delete(created.id)

    assert repository.tasks == {}
    with pytest.raises(TaskNotFound):
        service.delete(created.id)


def test_list_returns_a_page_with_total_and_filters(service: TaskService) -> None:
    for priority in (TaskPriority.low, TaskPriority.high, TaskPriority.high, TaskPriority.high):
        service.create(TaskCreate(title="t", priority=priority))

    page = service.list(limit=2, offset=1, priority=TaskPriority.high)

    assert [task.id for task in page.items] == [3, 4]
    assert (page.total, page.limit, page.offset) == (3, 2, 1)
