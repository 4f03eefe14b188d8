"""/models: read-only view of the mounted models directory."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from service.api.auth import REQUIRE_MODELS_READ, AuthenticatedRoute
from service.api.dependencies import ModelFileServiceDep
from service.api.schemas import error_responses
from service.domain.model_files import ModelFileDetail, ModelFileList

router = APIRouter(
    prefix="/models", tags=["models"], dependencies=[REQUIRE_MODELS_READ], route_class=AuthenticatedRoute
)


@router.get("", responses=error_responses(503), summary="List the model files", operation_id="models-list")
async def list_model_files(model_files: ModelFileServiceDep) -> ModelFileList:
    return await run_in_threadpool(model_files.list)


@router.get(
    "/{name}",
    responses=error_responses(404, 503),
    summary="One model file, with its SHA-256",
    operation_id="models-get",
)
async def get_model_file(name: str, model_files: ModelFileServiceDep) -> ModelFileDetail:
    # Hashing a large model takes seconds: it runs in the threadpool, never on the event loop.
    return await run_in_threadpool(model_files.get, name)
