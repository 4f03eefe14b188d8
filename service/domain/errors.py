"""Domain errors. Plain exceptions carrying data; service/api/errors.py maps them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for errors the API knows how to report."""


class TaskNotFound(DomainError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"Task {task_id} not found")
        self.task_id = task_id


class ModelFileNotFound(DomainError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Model {name!r} not found")
        self.name = name


class ModelStoreUnavailable(DomainError):
    """The models directory cannot be listed; `reason` is safe to show a client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StorageUnavailable(DomainError):
    """The database refused an operation (locked, full, read-only, gone); retrying later may work.

    The message is the driver's reason (e.g. "database is locked"): fit for logs
    and the readiness check, never for error bodies.
    """
