"""/tasks: CRUD over tasks. HTTP only; the rules live in TaskService."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from service.api.auth import REQUIRE_TASKS_READ, REQUIRE_TASKS_WRITE, AuthenticatedRoute
from service.api.dependencies import TaskServiceDep
from service.api.schemas import error_responses
from service.domain.tasks import TaskCreate, TaskPage, TaskPriority, TaskPublic, TaskStatus, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"], route_class=AuthenticatedRoute)

# operation_id on every route: `<resource>-<action>`, stable whatever the Python
# function is called, so a client generated from /openapi.json gets readable
# method names (FastAPI's default would be `create_task_tasks_post`).

# SQLite and PostgreSQL integers are 64-bit; larger ids cannot exist.
MAX_ID = 2**63 - 1
TaskId = Annotated[int, Path(ge=1, le=MAX_ID, description="Task id")]

# The routes are async and hand the (blocking) service call to the threadpool
# themselves: one thread hop per request. A sync `def` route would cost two,
# since FastAPI also validates a sync route's return value in the threadpool.


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(413, 503),
    summary="Create a task",
    operation_id="tasks-create",
    dependencies=[REQUIRE_TASKS_WRITE],
)
async def create_task(data: TaskCreate, tasks: TaskServiceDep, response: Response) -> TaskPublic:
    task = await run_in_threadpool(tasks.create, data)
    response.headers["Location"] = f"/tasks/{task.id}"
    return task


@router.get(
    "",
    responses=error_responses(503),
    summary="List tasks, oldest first",
    operation_id="tasks-list",
    dependencies=[REQUIRE_TASKS_READ],
)
async def list_tasks(
    tasks: TaskServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    status: TaskStatus | None = None,
    priority: TaskPriority | None = None,
) -> TaskPage:
    return await run_in_threadpool(tasks.list, limit=limit, offset=offset, status=status, priority=priority)


@router.get(
    "/{task_id}",
    responses=error_responses(404, 503),
    summary="Get one task",
    operation_id="tasks-get",
    dependencies=[REQUIRE_TASKS_READ],
)
async def get_task(task_id: TaskId, tasks: TaskServiceDep) -> TaskPublic:
    return await run_in_threadpool(tasks.get, task_id)


@router.patch(
    "/{task_id}",
    responses=error_responses(404, 413, 503),
    summary="Change some fields of a task",
    operation_id="tasks-update",
    dependencies=[REQUIRE_TASKS_WRITE],
)
async def update_task(task_id: TaskId, data: TaskUpdate, tasks: TaskServiceDep) -> TaskPublic:
    return await run_in_threadpool(tasks.update, task_id, data)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(404, 503),
    summary="Delete a task",
    operation_id="tasks-delete",
    dependencies=[REQUIRE_TASKS_WRITE],
)
async def delete_task(task_id: TaskId, tasks: TaskServiceDep) -> None:
    await run_in_threadpool(tasks.delete, task_id)
