"""`service migrate` / `python -m service migrate`: idempotent, safe three at once, one line and exit 1 on failure."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.schema import ADVISORY_LOCK_KEY, code_revisions
from tests.live import free_port, service_environment
from tests.postgres import APP_PASSWORD, LocalPostgres

HEAD = code_revisions().head  # a fork's newer revisions included
MIGRATE = (sys.executable, "-m", "service", "migrate")
BIN = Path(sys.executable).parent


def start(
    cwd: Path, database_url: str, *, command: tuple[str, ...] = MIGRATE, **settings: str
) -> subprocess.Popen[str]:
    environment = service_environment(DATABASE_URL=database_url, **settings)
    return subprocess.Popen(
        command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, list[dict[str, object]], str]:
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, [json.loads(line) for line in stdout.splitlines()], stderr


def versions(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def test_migrate_upgrades_then_reports_up_to_date_and_exits_0(tmp_path: Path, empty_database_url: str) -> None:
    first = finish(start(tmp_path, empty_database_url, command=(str(BIN / "service"), "migrate")))
    second = finish(start(tmp_path, empty_database_url))

    assert first[0] == 0, first[2]
    assert [(event["event"], event["before"], event["after"]) for event in first[1]] == [
        ("schema_migrated", None, HEAD)
    ]
    assert second[0] == 0, second[2]
    assert [(event["event"], event["revision"]) for event in second[1]] == [("schema_up_to_date", HEAD)]
    assert first[2] == second[2] == ""
    assert versions(empty_database_url) == [HEAD]


def test_three_started_at_once_migrate_once_and_all_exit_0(tmp_path: Path, empty_database_url: str) -> None:
    processes = [start(tmp_path, empty_database_url) for _ in range(3)]
    outcomes = [finish(process) for process in processes]

    assert [code for code, _, _ in outcomes] == [0, 0, 0], [stderr for _, _, stderr in outcomes]
    events = sorted(str(event["event"]) for _, logged, _ in outcomes for event in logged)
    assert events.count("schema_migrated") == 1
    assert events.count("schema_up_to_date") == 2
    assert versions(empty_database_url) == [HEAD]


@pytest.fixture
def lock_held_elsewhere(empty_database_url: str) -> Iterator[None]:
    """Another migration holding the lock: the advisory lock (PostgreSQL) or the file lock (SQLite)."""
    if empty_database_url.startswith("sqlite"):
        database = Path(empty_database_url.removeprefix("sqlite:///"))
        database.parent.mkdir(parents=True)
        descriptor = os.open(database, os.O_RDWR | os.O_CREAT)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
        os.close(descriptor)
        return
    engine = create_engine(empty_database_url)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        yield
    engine.dispose()


@pytest.mark.usefixtures("lock_held_elsewhere")
def test_a_lock_that_never_comes_free_ends_in_one_line_and_exit_1(tmp_path: Path, empty_database_url: str) -> None:
    code, logged, stderr = finish(start(tmp_path, empty_database_url, MIGRATE_LOCK_TIMEOUT="1"))

    assert code == 1
    assert [event["event"] for event in logged] == ["migration_lock_wait"]
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: migrate ")
    assert "another migration held the lock for 1 s (MIGRATE_LOCK_TIMEOUT)" in stderr


def test_an_unreachable_server_ends_in_one_masked_line_and_exit_1(postgres: LocalPostgres, tmp_path: Path) -> None:
    url = f"postgresql+psycopg://task_api:{APP_PASSWORD}@127.0.0.1:{free_port()}/tasks"

    code, logged, stderr = finish(start(tmp_path, url, DATABASE_CONNECT_TIMEOUT="2"))

    assert code == 1
    assert logged == []
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: migrate postgresql+psycopg://task_api:***@127.0.0.1:")
    assert "Connection refused" in stderr
    assert APP_PASSWORD not in stderr
    assert "Traceback" not in stderr


def test_a_sqlite_file_that_cannot_be_created_ends_in_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")

    code, logged, stderr = finish(start(tmp_path, f"sqlite:///{tmp_path}/a-file/tasks.db"))

    assert (code, logged) == (1, [])
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"error: migrate sqlite:///{tmp_path}/a-file/tasks.db: ")
    assert "a-file" in stderr.removeprefix(f"error: migrate sqlite:///{tmp_path}/a-file/tasks.db: ")


def test_a_bad_setting_exits_2_before_touching_the_database(tmp_path: Path) -> None:
    code, _, stderr = finish(start(tmp_path, "sqlite:///data/tasks.db", MIGRATE_LOCK_TIMEOUT="soon"))

    assert code == 2
    assert stderr.startswith("error: invalid configuration: MIGRATE_LOCK_TIMEOUT: ")
    assert not (tmp_path / "data").exists()


def test_the_migrate_command_imports_no_web_stack() -> None:
    code = (
        "import sys, service.cli, service.migrate_command\n"
        "print(sorted({'fastapi', 'uvicorn', 'starlette'} & set(sys.modules)))"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    assert result.stdout.strip() == "[]"


def test_an_unknown_command_prints_the_usage_and_exits_2(tmp_path: Path) -> None:
    code, _, stderr = finish(start(tmp_path, "sqlite:///data/tasks.db", command=(*MIGRATE[:3], "upgrade")))

    assert (code, stderr) == (2, "usage: service [migrate]\n")
