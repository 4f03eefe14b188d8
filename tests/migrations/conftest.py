"""Migration fixtures: an empty database (no schema at all) on each engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines import ENGINES
from tests.postgres import LocalPostgres


@pytest.fixture(params=ENGINES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables: a SQLite path not yet created, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/data/tasks.db"
        return
    postgres: LocalPostgres = request.getfixturevalue("postgres")
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)
