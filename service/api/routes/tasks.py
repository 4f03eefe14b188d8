"""/tasks: CRUD over tasks. HTTP only; the rules live in TaskService."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from service.api.dependencies import TaskServiceDep
from service.api.schemas import error_responses
from service.domain.tasks import TaskCreate, TaskPage, TaskPriority, TaskPublic, TaskStatus, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"])

# SQLite and PostgreSQL integers are 64-bit; larger ids cannot exist.
MAX_ID = 2**63 - 1
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="Task id")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(503),
    summary="Create a task",
)
def create_task(data: TaskCreate, tasks: TaskServiceDep, response: Response) -> TaskPublic:
    task = tasks.create(data)
    response.headers["Location"] = f"/tasks/{task.id}"
    return task


@router.get("", responses=error_responses(503), summary="List tasks, oldest first")
def list_tasks(
    tasks: TaskServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    status: TaskStatus | None = None,
    priority: TaskPriority | None = None,
) -> TaskPage:
    return tasks.list(limit=limit, offset=offset, status=status, priority=priority)


@router.get("/{task_id}", responses=error_responses(404, 503), summary="Get one task")
def get_task(task_id: TaskId, tasks: TaskServiceDep) -> TaskPublic:
    return tasks.get(task_id)


@router.patch("/{task_id}", responses=error_responses(404, 503), summary="Change some fields of a task")
def update_task(task_id: TaskId, data: TaskUpdate, tasks: TaskServiceDep) -> TaskPublic:
    return tasks.update(task_id, data)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404, 503),
    summary="Delete a task",
)
def delete_task(task_id: TaskId, tasks: TaskServiceDep) -> None:
    tasks.delete(task_id)
