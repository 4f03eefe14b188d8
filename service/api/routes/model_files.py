"""/models: read-only view of the mounted models directory."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.dependencies import ModelFileServiceDep
from service.api.schemas import error_responses
from service.domain.model_files import ModelFileDetail, ModelFileList

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", responses=error_responses(503), summary="List the model files")
def list_model_files(model_files: ModelFileServiceDep) -> ModelFileList:
    return model_files.list()


@router.get("/{name}", responses=error_responses(404, 503), summary="One model file, with its SHA-256")
def get_model_file(name: str, model_files: ModelFileServiceDep) -> ModelFileDetail:
    return model_files.get(name)
