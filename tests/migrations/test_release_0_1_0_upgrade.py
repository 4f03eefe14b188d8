"""Existing users upgrade in place: a SQLite file made by release 0.1.0 is adopted at start-up, its rows kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from service.schema import code_revisions
from service.settings import InvalidSettings, Settings
from service.startup import check_storage

# Exactly what release 0.1.0's create_all wrote (SQLModel metadata, SQLAlchemy 2.1, SQLite).
RELEASE_0_1_0_SCHEMA = """
CREATE TABLE tasks (
	title VARCHAR(200) NOT NULL,
	description VARCHAR(2000),
	status VARCHAR(11) NOT NULL,
	priority VARCHAR(6) NOT NULL,
	due_date DATE,
	id INTEGER NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (id)
)
"""
ROWS = [
    ("first", None, "todo", "medium", None, 1, "2030-01-01 10:00:00.000000", "2030-01-01 10:00:00.000000"),
    ("second", "d", "done", "high", "2030-02-28", 2, "2030-01-02 11:30:00.250000", "2030-01-03 09:00:00.000000"),
    ("fifth", None, "in_progress", "low", None, 5, "2030-01-04 00:00:00.000000", "2030-01-04 00:00:00.000000"),
]


@pytest.fixture
def release_0_1_0_file(settings: Settings) -> Path:
    database = settings.sqlite_file
    assert database is not None
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as connection:
        connection.execute(RELEASE_0_1_0_SCHEMA)
        connection.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    connection.close()
    return database


def test_start_up_stamps_a_0_1_0_file_then_upgrades_it_keeping_every_row(
    release_0_1_0_file: Path, settings: Settings
) -> None:
    check_storage(settings)  # what `uv run service` does before listening

    with sqlite3.connect(release_0_1_0_file) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(code_revisions().head,)]
        table_sql = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'tasks'").fetchone()[0]
    connection.close()
    assert "AUTOINCREMENT" in table_sql
    assert "ck_tasks_status" in table_sql
    with TestClient(create_app(settings)) as client:
        listed = client.get("/tasks").json()
        created = client.post("/tasks", json={"title": "after the upgrade"}).json()
        ready = client.get("/ready").json()
    assert [(task["id"], task["title"], task["status"]) for task in listed["items"]] == [
        (1, "first", "todo"),
        (2, "second", "done"),
        (5, "fifth", "in_progress"),
    ]
    assert listed["items"][1]["created_at"] == "2030-01-02T11:30:00.250000Z"
    assert listed["items"][1]["due_date"] == "2030-02-28"
    assert created["id"] == 6
    assert ready["checks"]["schema"] == "ok"


def test_the_app_alone_adopts_a_0_1_0_file_too(release_0_1_0_file: Path, settings: Settings) -> None:
    """`uvicorn service.main:app --factory` style: no start-up check before the lifespan."""
    with TestClient(create_app(settings)) as client:
        assert client.get("/tasks/5").json()["title"] == "fifth"
        assert client.get("/ready").status_code == 200


def test_a_tasks_table_of_another_shape_is_refused_not_guessed(settings: Settings) -> None:
    database = settings.sqlite_file
    assert database is not None
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, name TEXT)")
    connection.close()

    with pytest.raises(InvalidSettings, match="refusing to guess its revision") as raised:
        check_storage(settings)

    assert "\n" not in str(raised.value)
