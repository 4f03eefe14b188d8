"""SqlTaskRepository against a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from service.db import create_db_engine, create_schema
from service.domain.errors import StorageUnavailable
from service.domain.tasks import TaskPriority, TaskStatus
from service.repositories.tasks import SqlTaskRepository
from service.settings import Settings

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_db_engine(settings)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def repository(engine: Engine) -> SqlTaskRepository:
    return SqlTaskRepository(engine)


def new_task(title: str = "t", **fields: Any) -> dict[str, Any]:
    return {"title": title, "created_at": T0, "updated_at": T0, **fields}


def test_schema_creation_makes_the_database_directory(settings: Settings, tmp_path: Path) -> None:
    engine = create_db_engine(settings)

    create_schema(engine)
    create_schema(engine)  # idempotent

    assert (tmp_path / "data" / "tasks.db").is_file()
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_add_then_get_round_trips_with_aware_utc_timestamps(repository: SqlTaskRepository) -> None:
    added = repository.add(new_task(priority=TaskPriority.high))

    fetched = repository.get(added.id)

    assert fetched is not None
    assert fetched.title == "t"
    assert fetched.priority == TaskPriority.high
    assert fetched.created_at == T0
    assert fetched.created_at.tzinfo is not None


def test_get_missing_returns_none(repository: SqlTaskRepository) -> None:
    assert repository.get(1) is None


def test_list_orders_by_id_filters_and_counts(repository: SqlTaskRepository) -> None:
    for status in (TaskStatus.done, TaskStatus.todo, TaskStatus.done, TaskStatus.done):
        repository.add(new_task(status=status))

    tasks, total = repository.list(limit=2, offset=1, status=TaskStatus.done, priority=None)

    assert [task.id for task in tasks] == [3, 4]
    assert total == 3


def test_update_applies_changes_and_returns_the_row(repository: SqlTaskRepository) -> None:
    added = repository.add(new_task())
    later = datetime(2031, 1, 1, tzinfo=UTC)

    updated = repository.update(added.id, {"title": "new", "updated_at": later})

    assert updated is not None
    assert (updated.title, updated.updated_at, updated.created_at) == ("new", later, T0)
    assert repository.get(added.id) == updated


def test_update_missing_returns_none(repository: SqlTaskRepository) -> None:
    assert repository.update(9, {"title": "x"}) is None


def test_delete_reports_whether_a_row_went(repository: SqlTaskRepository) -> None:
    added = repository.add(new_task())

    assert repository.delete(added.id) is True
    assert repository.delete(added.id) is False
    assert repository.get(added.id) is None


def test_database_directory_gone_while_serving_fails_cleanly_then_recovers(
    repository: SqlTaskRepository, tmp_path: Path
) -> None:
    kept = repository.add(new_task("kept"))
    (tmp_path / "data").rename(tmp_path / "elsewhere")

    # Pooled connections still hold the old file open; a write must not "succeed" into it.
    with pytest.raises(StorageUnavailable):
        repository.add(new_task("lost"))
    with pytest.raises(StorageUnavailable):
        repository.get(kept.id)

    (tmp_path / "elsewhere").rename(tmp_path / "data")

    assert repository.get(kept.id) == kept
    assert repository.add(new_task("after")).id == 2
    assert [task.title for task in repository.list(limit=10, offset=0, status=None, priority=None)[0]] == [
        "kept",
        "after",
    ]
