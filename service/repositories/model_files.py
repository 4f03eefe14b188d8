"""The models directory, read-only: listing, metadata and streaming hashes, confined to the directory."""

from __future__ import annotations

import hashlib
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from service.domain.errors import ModelFileNotFound, ModelStoreUnavailable
from service.domain.model_files import ModelFile, ModelFileDetail

_CHUNK = 1024 * 1024


class ModelDirectory:
    """Files directly inside one directory. Never writes; never opens a file outside it."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def check(self) -> None:
        if not self._path.exists():
            raise ModelStoreUnavailable("models directory does not exist")
        if not self._path.is_dir():
            raise ModelStoreUnavailable("models path is not a directory")
        if not os.access(self._path, os.R_OK | os.X_OK):
            raise ModelStoreUnavailable("models directory is not readable")

    def list(self) -> list[ModelFile]:
        self.check()
        files = []
        for entry in os.scandir(self._path):
            resolved = self._resolve(entry.name)
            if resolved is not None:
                files.append(_describe(entry.name, resolved.stat()))
        return sorted(files, key=lambda file: file.name)

    def get(self, name: str) -> ModelFileDetail:
        resolved = self._resolve(name)
        if resolved is None:
            raise ModelFileNotFound(name)
        digest = hashlib.sha256()
        with resolved.open("rb") as stream:
            status = os.fstat(stream.fileno())
            # Streamed in chunks: a multi-GB model never sits in memory.
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
        return ModelFileDetail(**_describe(name, status).model_dump(), sha256=digest.hexdigest())

    def _resolve(self, name: str) -> Path | None:
        """The real path of a visible regular file directly inside the directory, else None."""
        if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
            return None
        try:
            root = self._path.resolve(strict=True)
            # Follows symlinks, so a link pointing out of the directory is caught below.
            resolved = (root / name).resolve(strict=True)
            is_regular = stat.S_ISREG(resolved.stat().st_mode)
        except (OSError, RuntimeError):
            return None
        return resolved if is_regular and resolved.parent == root else None


def _describe(name: str, status: os.stat_result) -> ModelFile:
    return ModelFile(
        name=name,
        size_bytes=status.st_size,
        modified_at=datetime.fromtimestamp(status.st_mtime, tz=UTC),
    )
