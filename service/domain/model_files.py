"""Model files: what the service reports about the files in the read-only models directory."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ModelFile(BaseModel):
    name: str
    size_bytes: int
    modified_at: datetime


class ModelFileDetail(ModelFile):
    sha256: str


class ModelFileList(BaseModel):
    items: list[ModelFile]
