"""Dependency providers: hand routes the services the composition root built for this app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service.services.health import ReadinessService
from service.services.model_files import ModelFileService
from service.services.tasks import TaskService


@dataclass(frozen=True)
class Services:
    """Everything create_app wires together, stored on app.state.services."""

    tasks: TaskService
    model_files: ModelFileService
    readiness: ReadinessService


# Async on purpose: FastAPI runs sync dependencies in the threadpool, and a
# thread hop per request just to read an attribute costs more than the read.
async def get_task_service(request: Request) -> TaskService:
    return _services(request).tasks


async def get_model_file_service(request: Request) -> ModelFileService:
    return _services(request).model_files


async def get_readiness_service(request: Request) -> ReadinessService:
    return _services(request).readiness


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


TaskServiceDep = Annotated[TaskService, Depends(get_task_service)]
ModelFileServiceDep = Annotated[ModelFileService, Depends(get_model_file_service)]
ReadinessServiceDep = Annotated[ReadinessService, Depends(get_readiness_service)]
