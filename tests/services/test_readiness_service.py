"""ReadinessService: which check fails, and why."""

from __future__ import annotations

from service.domain.errors import ModelStoreUnavailable, StorageUnavailable
from service.domain.model_files import ModelFile, ModelFileDetail
from service.services.health import ReadinessService


class FakeDatabase:
    def __init__(self, error: Exception | None = None, schema: str | None = None) -> None:
        self.error = error
        self.schema = schema

    def ping(self) -> None:
        if self.error:
            raise self.error

    def schema_problem(self) -> str | None:
        return self.schema


class FakeModels:
    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason

    def check(self) -> None:
        if self.reason:
            raise ModelStoreUnavailable(self.reason)

    def list(self) -> list[ModelFile]:
        return []

    def get(self, name: str) -> ModelFileDetail:
        raise NotImplementedError


def test_ready_when_every_check_passes() -> None:
    report = ReadinessService(FakeDatabase(), FakeModels()).check()

    assert report.ready
    assert report.checks == {"database": "ok", "schema": "ok", "models": "ok"}


def test_database_failure_is_reported_without_hiding_the_models_check() -> None:
    report = ReadinessService(FakeDatabase(StorageUnavailable("unable to open database file")), FakeModels()).check()

    assert not report.ready
    assert report.checks == {
        "database": "unavailable: unable to open database file",
        "schema": "unknown: the database is unavailable",
        "models": "ok",
    }


def test_pending_migrations_make_the_instance_unready_with_the_reason() -> None:
    pending = "pending migrations: the database is at revision 0001, the code needs 0002; run `service migrate`"

    report = ReadinessService(FakeDatabase(schema=pending), FakeModels()).check()

    assert not report.ready
    assert report.checks == {"database": "ok", "schema": pending, "models": "ok"}


def test_models_failure_reason_is_reported() -> None:
    report = ReadinessService(FakeDatabase(), FakeModels("models directory is not readable")).check()

    assert not report.ready
    assert report.checks["models"] == "models directory is not readable"
