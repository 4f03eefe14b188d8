"""Readiness: can this instance serve traffic (database answers at the schema it needs, models directory readable)?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.domain.errors import ModelStoreUnavailable, StorageUnavailable
from service.services.model_files import ModelStore

OK = "ok"


class DatabaseProbe(Protocol):
    def ping(self) -> None:
        """Raise StorageUnavailable when the database does not answer."""

    def schema_problem(self) -> str | None:
        """None when the schema serves this code (at or past its head), else why; may raise StorageUnavailable."""


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(value == OK for value in self.checks.values())


class ReadinessService:
    def __init__(self, database: DatabaseProbe, models: ModelStore) -> None:
        self._database = database
        self._models = models

    def check(self) -> Readiness:
        database = self._check_database()
        return Readiness(
            checks={"database": database, "schema": self._check_schema(database), "models": self._check_models()}
        )

    def _check_database(self) -> str:
        try:
            self._database.ping()
        except StorageUnavailable as exc:
            return f"unavailable: {exc}"
        return OK

    def _check_schema(self, database: str) -> str:
        if database != OK:
            return "unknown: the database is unavailable"
        try:
            problem = self._database.schema_problem()
        except StorageUnavailable as exc:
            return f"unavailable: {exc}"
        return problem or OK

    def _check_models(self) -> str:
        try:
            self._models.check()
        except ModelStoreUnavailable as exc:
            return exc.reason
        return OK
