"""SqlTaskRepository against a real SQLite file and a real PostgreSQL: the same tests, the same results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, IntegrityError

from service.db import create_db_engine
from service.domain.errors import StorageUnavailable
from service.domain.tasks import TaskPriority, TaskStatus
from service.repositories.tasks import SqlTaskRepository
from service.schema import code_revisions, upgrade_to_head
from service.settings import Settings
from tests.engines import on_every_engine

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    upgrade_to_head(settings)  # PostgreSQL's test database is at head already: a no-op there
    engine = create_db_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def repository(engine: Engine) -> SqlTaskRepository:
    return SqlTaskRepository(engine)


def new_task(title: str = "t", **fields: Any) -> dict[str, Any]:
    return {"title": title, "created_at": T0, "updated_at": T0, **fields}


def test_sqlite_migration_makes_the_database_directory_and_is_idempotent(settings: Settings, tmp_path: Path) -> None:
    first = upgrade_to_head(settings)
    second = upgrade_to_head(settings)

    assert (tmp_path / "data" / "tasks.db").is_file()
    head = code_revisions().head
    assert first == (None, head)
    assert second == (head, head)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


@on_every_engine
def test_add_then_get_round_trips_with_aware_utc_timestamps(repository: SqlTaskRepository) -> None:
    added = repository.add(new_task(priority=TaskPriority.high))

    fetched = repository.get(added.id)

    assert fetched is not None
    assert fetched.title == "t"
    assert fetched.priority == TaskPriority.high
    assert fetched.created_at == T0
    assert fetched.created_at.tzinfo is not None


@on_every_engine
def test_get_missing_returns_none(repository: SqlTaskRepository) -> None:
    assert repository.get(1) is None


@on_every_engine
def test_list_orders_by_id_filters_and_counts(repository: SqlTaskRepository) -> None:
    for status in (TaskStatus.done, TaskStatus.todo, TaskStatus.done, TaskStatus.done):
        repository.add(new_task(status=status))

    tasks, total = repository.list(limit=2, offset=1, status=TaskStatus.done, priority=None)

    assert [task.id for task in tasks] == [3, 4]
    assert total == 3


@on_every_engine
def test_update_applies_changes_and_returns_the_row(repository: SqlTaskRepository) -> None:
    added = repository.add(new_task())
    later = datetime(2031, 1, 1, tzinfo=UTC)

    updated = repository.update(added.id, {"title": "new", "updated_at": later})

    assert updated is not None
    assert (updated.title, updated.updated_at, updated.created_at) == ("new", later, T0)
    assert repository.get(added.id) == updated


@on_every_engine
def test_update_missing_returns_none(repository: SqlTaskRepository) -> None:
    assert repository.update(9, {"title": "x"}) is None


@on_every_engine
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


@on_every_engine
def test_timestamps_given_with_another_offset_come_back_in_utc(repository: SqlTaskRepository) -> None:
    paris_summer = timezone(timedelta(hours=2))
    created = datetime(2030, 7, 1, 14, 30, 15, 123456, tzinfo=paris_summer)

    added = repository.add(new_task(created_at=created, updated_at=created))
    fetched = repository.get(added.id)

    assert fetched is not None
    for stamp in (added.created_at, fetched.created_at):
        assert stamp == created
        assert stamp.utcoffset() == timedelta(0)
        assert (stamp.hour, stamp.microsecond) == (12, 123456)


@on_every_engine
def test_list_totals_and_order_with_both_filters(repository: SqlTaskRepository) -> None:
    combos = [(status, priority) for status in TaskStatus for priority in TaskPriority] * 3
    for index, (status, priority) in enumerate(combos):
        repository.add(new_task(f"t{index}", status=status, priority=priority))

    page, total = repository.list(limit=2, offset=1, status=TaskStatus.in_progress, priority=TaskPriority.low)
    everything, count = repository.list(limit=100, offset=0, status=None, priority=None)

    assert total == 3
    assert [task.title for task in page] == ["t12", "t21"]
    assert count == len(combos)
    assert [task.id for task in everything] == sorted(task.id for task in everything)


@on_every_engine
def test_ids_of_deleted_tasks_are_never_reused(repository: SqlTaskRepository) -> None:
    first, last = repository.add(new_task("a")), repository.add(new_task("b"))
    repository.delete(last.id)

    assert repository.add(new_task("c")).id == last.id + 1
    assert first.id < last.id


@on_every_engine
@pytest.mark.parametrize(
    "values",
    [
        {"status": "bogus"},
        {"priority": "urgent"},
        {"title": ""},
        {"title": "x" * 201},
        {"description": "d" * 2001},
        {"title": None},
    ],
    ids=["status", "priority", "empty-title", "long-title", "long-description", "null-title"],
)
def test_database_refuses_rows_the_api_would_refuse_even_written_around_it(
    engine: Engine, values: dict[str, Any]
) -> None:
    row = {"title": "t", "description": None, "status": "todo", "priority": "low", "at": "2030-01-01 00:00:00"}
    insert = text(
        "INSERT INTO tasks (title, description, status, priority, created_at, updated_at) "
        "VALUES (:title, :description, :status, :priority, :at, :at)"
    )

    with pytest.raises((IntegrityError, DataError)), engine.begin() as connection:
        connection.execute(insert, row | values)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tasks")).scalar_one() == 0


@on_every_engine
@pytest.mark.parametrize(("column", "value"), [("status", "bogus"), ("priority", "urgent")])
def test_enum_check_constraints_are_named_by_the_convention(engine: Engine, column: str, value: str) -> None:
    insert = text(
        "INSERT INTO tasks (title, status, priority, created_at, updated_at) VALUES ('t', :status, :priority, :at, :at)"
    )
    row = {"status": "todo", "priority": "low", "at": "2030-01-01 00:00:00", column: value}

    with pytest.raises(IntegrityError, match=f"ck_tasks_{column}"), engine.begin() as connection:
        connection.execute(insert, row)
