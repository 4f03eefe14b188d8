"""Model file use-cases: what the API may learn about the read-only models directory."""

from __future__ import annotations

from typing import Protocol

from service.domain.model_files import ModelFile, ModelFileDetail, ModelFileList


class ModelStore(Protocol):
    def check(self) -> None:
        """Raise ModelStoreUnavailable with a reason when the store cannot be read."""

    def list(self) -> list[ModelFile]: ...

    def get(self, name: str) -> ModelFileDetail: ...


class ModelFileService:
    def __init__(self, store: ModelStore) -> None:
        self._store = store

    def list(self) -> ModelFileList:
        return ModelFileList(items=self._store.list())

    def get(self, name: str) -> ModelFileDetail:
        return self._store.get(name)
