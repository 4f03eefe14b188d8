"""Database probe for readiness checks: does the database answer, and is its schema what this code needs?"""

from __future__ import annotations

import structlog
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from service.domain.errors import StorageUnavailable
from service.schema import Revisions, current_revision

log = structlog.get_logger(__name__)


class SqlDatabaseProbe:
    def __init__(self, engine: Engine, revisions: Revisions) -> None:
        self._engine = engine
        self._revisions = revisions

    def ping(self) -> None:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(getattr(exc, "orig", None) or exc)) from exc

    def schema_problem(self) -> str | None:
        """None when the schema is at the code's head or past it, else what is missing."""
        try:
            with self._engine.connect() as connection:
                return self._revisions.problem(current_revision(connection))
        except SQLAlchemyError as exc:
            raise StorageUnavailable(str(getattr(exc, "orig", None) or exc)) from exc

    def warn_if_schema_pending(self) -> None:
        """Log, at start-up, a schema this code cannot serve yet (the database may also be down: no error)."""
        try:
            problem = self.schema_problem()
        except StorageUnavailable as exc:
            log.warning("schema_not_checked", reason=" ".join(str(exc).split()))
            return
        if problem is not None:
            log.warning("schema_pending", reason=problem)
