"""Migrations: one head, a round trip on both engines, no drift from the models, revisions free of application code."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, MetaData, String, create_engine, inspect, text

from service.domain.metadata import metadata
from service.schema import MIGRATIONS, alembic_config, code_revisions, current_revision, upgrade_to_head
from service.settings import Settings

REVISION_FILES = sorted((MIGRATIONS / "versions").glob("[0-9]*.py"))
ALLOWED_IMPORTS = {"__future__", "alembic", "sqlalchemy"}


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_database_url)
    yield engine
    engine.dispose()


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url)


def drift(engine: Engine, target: MetaData = metadata) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "target_metadata": target})
        differences: list[Any] = compare_metadata(context, target)
    return differences


def check_constraints(engine: Engine, tables: Iterable[str] = metadata.tables) -> set[str | None]:
    """The CHECK constraints' names on `tables`: by default every table the models declare (a fork's too)."""
    with engine.connect() as connection:
        inspector = inspect(connection)
        return {check["name"] for table in tables for check in inspector.get_check_constraints(table)}


def tables(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_the_migrations_have_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    assert len(script.get_heads()) == 1
    # service/schema.py reads the revision files itself (serving never imports Alembic): it must agree.
    assert code_revisions().head == script.get_current_head()
    assert code_revisions().known == {revision.revision for revision in script.walk_revisions()}


def test_serving_a_database_at_head_never_imports_alembic(tmp_path: Path) -> None:
    """Alembic costs every start 0.13 s of CPU and 9 MB: only a pending migration may load it."""
    url = f"sqlite:///{tmp_path}/data/tasks.db"
    upgrade_to_head(settings_for(url))
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.main import create_app\n"
        "from service.settings import Settings\n"
        "from service.startup import check_storage\n"
        f"settings = Settings(_env_file=None, database_url={url!r}, models_dir={str(tmp_path)!r})\n"
        "check_storage(settings)\n"
        "with TestClient(create_app(settings)) as client:\n"
        "    assert client.get('/ready').json()['checks']['schema'] == 'ok'\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('alembic', 'mako')))\n"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("revision_file", REVISION_FILES, ids=lambda path: path.stem)
def test_revisions_import_alembic_and_sqlalchemy_only(revision_file: Path) -> None:
    """A revision must still run after a fork renames or deletes a model module."""
    imported = set()
    for node in ast.walk(ast.parse(revision_file.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])

    assert imported <= ALLOWED_IMPORTS


def test_upgrade_from_empty_to_head_down_to_base_and_up_again(engine: Engine, empty_database_url: str) -> None:
    head = code_revisions().head

    assert upgrade_to_head(settings_for(empty_database_url)) == (None, head)
    assert "tasks" in tables(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tasks (title, status, priority, created_at, updated_at) "
                "VALUES ('t', 'todo', 'low', :at, :at)"
            ),
            {"at": "2030-01-01 00:00:00"},
        )
        command.downgrade(alembic_config(connection), "base")
    assert tables(engine) <= {"alembic_version"}
    with engine.connect() as connection:
        assert current_revision(connection) is None

    assert upgrade_to_head(settings_for(empty_database_url)) == (None, head)
    assert drift(engine) == []


def test_each_revision_downgrades_to_the_one_before(engine: Engine, empty_database_url: str) -> None:
    upgrade_to_head(settings_for(empty_database_url))
    script = ScriptDirectory.from_config(alembic_config())
    for revision in script.walk_revisions():  # head first
        with engine.begin() as connection:
            assert current_revision(connection) == revision.revision
            command.downgrade(alembic_config(connection), "-1")
    with engine.connect() as connection:
        assert current_revision(connection) is None


def test_models_and_migrations_do_not_drift(engine: Engine, empty_database_url: str) -> None:
    upgrade_to_head(settings_for(empty_database_url))

    assert drift(engine) == []
    # Autogenerate does not compare CHECK constraints: their names are compared here.
    model_checks = {constraint.name for table in metadata.tables.values() for constraint in table.constraints}
    assert check_constraints(engine) == {name for name in model_checks if str(name).startswith("ck_")}
    assert check_constraints(engine, ["tasks"]) == {
        "ck_tasks_status",
        "ck_tasks_priority",
        "ck_tasks_title_length",
        "ck_tasks_description_length",
    }


def test_the_drift_check_sees_a_column_no_migration_adds(engine: Engine, empty_database_url: str) -> None:
    upgrade_to_head(settings_for(empty_database_url))
    forked = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():  # every table, so only the new column differs
        table.to_metadata(forked)
    forked.tables["tasks"].append_column(Column("owner", String(100)))

    differences = drift(engine, forked)

    assert [(kind, column.name) for kind, _schema, _table, column in differences] == [("add_column", "owner")]


def test_migrating_at_head_changes_nothing(engine: Engine, empty_database_url: str) -> None:
    head = code_revisions().head
    upgrade_to_head(settings_for(empty_database_url))

    assert upgrade_to_head(settings_for(empty_database_url)) == (head, head)


def test_a_database_a_newer_release_migrated_is_left_alone(engine: Engine, empty_database_url: str) -> None:
    upgrade_to_head(settings_for(empty_database_url))
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f0rk-future'"))

    assert upgrade_to_head(settings_for(empty_database_url)) == ("f0rk-future", "f0rk-future")
    assert code_revisions().problem("f0rk-future") is None
