"""On a server database the serving process never migrates: /ready tells whether the schema serves this code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, inspect, text

from service.main import create_app
from service.schema import alembic_config, code_revisions
from service.settings import Settings
from tests.postgres import LocalPostgres


@pytest.fixture
def empty_postgres_settings(postgres: LocalPostgres, settings: Settings) -> Iterator[Settings]:
    name = postgres.create_database()
    yield settings.model_copy(update={"database_url": postgres.url(name)})
    postgres.drop_database(name)


@pytest.fixture
def engine(empty_postgres_settings: Settings) -> Iterator[Engine]:
    engine = create_engine(empty_postgres_settings.database_url)
    yield engine
    engine.dispose()


def ready(settings: Settings) -> tuple[int, dict[str, str]]:
    with TestClient(create_app(settings)) as client:
        response = client.get("/ready")
    checks: dict[str, str] = response.json()["checks"]
    return response.status_code, checks


def test_serving_on_an_empty_server_database_runs_no_ddl_and_is_not_ready(
    empty_postgres_settings: Settings, engine: Engine
) -> None:
    status, checks = ready(empty_postgres_settings)

    assert status == 503
    assert checks["database"] == "ok"
    assert checks["schema"] == (
        f"pending migrations: the database has no schema, the code needs {code_revisions().head}; run `service migrate`"
    )
    with engine.connect() as connection:
        assert inspect(connection).get_table_names() == []


def test_a_database_behind_the_code_is_not_ready(empty_postgres_settings: Settings, engine: Engine) -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")

    status, checks = ready(empty_postgres_settings)

    assert status == 503
    assert checks["schema"].startswith(
        f"pending migrations: the database is at revision 0001, the code needs {code_revisions().head}"
    )


def test_a_database_a_newer_release_migrated_is_ready(empty_postgres_settings: Settings, engine: Engine) -> None:
    """Rolling deploy: the new release migrated (expand/contract), the old replicas keep serving."""
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
        connection.execute(text("UPDATE alembic_version SET version_num = '0003_from_a_newer_release'"))

    status, checks = ready(empty_postgres_settings)

    assert (status, checks["schema"]) == (200, "ok")
