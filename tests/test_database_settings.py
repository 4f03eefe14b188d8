"""DATABASE_URL for each engine, the password from a secret file, and no password in any message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from service.db import create_db_engine, database_url, describe_error, ping
from service.settings import InvalidSettings, Settings, load_settings, mask_database_url
from tests.live import LiveServer, service_environment
from tests.postgres import APP_PASSWORD, APP_USER, LocalPostgres

SECRET = "hunter2-Secret"  # noqa: S105  (looked for in messages)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///./data/tasks.db",
        "sqlite+pysqlite:////data/tasks.db",
        "postgresql://app@db:5432/tasks",
        "postgresql+psycopg://app:pw@db.internal:5432/tasks?sslmode=require",
        "postgresql+psycopg://app@/tasks?host=/run/postgresql",
    ],
)
def test_supported_urls_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    assert load_settings().database_url == url


def test_postgresql_without_a_driver_means_psycopg() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://app@db/tasks")

    assert database_url(settings).get_dialect().driver == "psycopg"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://app@db/tasks", "DATABASE_URL: unsupported scheme 'postgres'; write postgresql://"),
        ("postgresql+psycopg2://app@db/tasks", "DATABASE_URL: unsupported driver 'psycopg2'; supported: postgresql://"),
        ("postgresql://app@db:fivefour/tasks", "DATABASE_URL: the port must be a number, not 'fivefour'"),
        ("postgresql://app@db:5432", "DATABASE_URL: name the database"),
        ("sqlite+aiosqlite:///tasks.db", "DATABASE_URL: unsupported driver 'aiosqlite'"),
    ],
)
def test_unusable_urls_name_the_variable(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    with pytest.raises(InvalidSettings, match=r"^invalid configuration: ") as raised:
        load_settings()

    assert expected in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+asyncpg://app:{SECRET}@db/tasks",
        f"mysql://app:{SECRET}@db/tasks",
        f"postgresql://app:{SECRET}@db:port/tasks",
        f"postgresql://app:{SECRET}@db/",
        f"app:{SECRET}@db/tasks",
    ],
)
def test_a_settings_error_never_echoes_the_password(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    with pytest.raises(InvalidSettings) as raised:
        load_settings()

    assert "DATABASE_URL" in str(raised.value)
    assert SECRET not in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_mask_keeps_the_user_and_host() -> None:
    assert mask_database_url(f"postgresql+psycopg://app:{SECRET}@db:5432/tasks") == (
        "postgresql+psycopg://app:***@db:5432/tasks"
    )
    assert mask_database_url("postgresql://app@db/tasks") == "postgresql://app@db/tasks"
    # An unescaped @ in the password: masked up to the last @ before the host.
    assert mask_database_url(f"postgresql://app:{SECRET}@with@at@db/tasks") == "postgresql://app:***@db/tasks"


def test_password_comes_from_the_secrets_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "database_password").write_text(SECRET + "\n")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://app@db:5432/tasks")

    settings = load_settings()

    assert settings.database_password is not None
    assert settings.database_password.get_secret_value() == SECRET
    assert database_url(settings).password == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in repr(database_url(settings))


def test_environment_wins_over_a_secret_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "log_level").write_text("debug")
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_LEVEL", "warning")

    assert load_settings().log_level == "warning"


def test_a_secrets_dir_that_is_no_directory_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path / "missing"))

    with pytest.raises(InvalidSettings, match=r"^SECRETS_DIR: .*/missing is not a directory$"):
        load_settings()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://app:inline@db/tasks", "DATABASE_URL has a password and DATABASE_PASSWORD is set too"),
        ("sqlite:///./data/tasks.db", "DATABASE_PASSWORD is set but DATABASE_URL is a SQLite file"),
    ],
)
def test_one_place_for_the_password(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATABASE_PASSWORD", SECRET)

    with pytest.raises(InvalidSettings, match=expected) as raised:
        load_settings()

    assert SECRET not in str(raised.value)


def test_driver_errors_are_one_line_without_the_password(postgres: LocalPostgres) -> None:
    settings = Settings(_env_file=None, database_url=postgres.url("postgres", password=SECRET))
    engine = create_db_engine(settings, pool_size=1)

    with pytest.raises(OperationalError) as raised:
        ping(engine)
    engine.dispose()

    reason = describe_error(raised.value, settings)
    assert "\n" not in reason
    assert f'password authentication failed for user "{APP_USER}"' in reason
    assert SECRET not in reason


def test_the_service_connects_with_the_password_from_a_secret_file(postgres_database: str, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "database_password").write_text(APP_PASSWORD)
    (tmp_path / "models").mkdir()
    server = LiveServer(
        tmp_path, DATABASE_URL=postgres_database.replace(f":{APP_PASSWORD}@", "@"), SECRETS_DIR=str(secrets)
    ).wait_until_healthy()
    try:
        created = httpx.post(f"{server.base_url}/tasks", json={"title": "via a secret file"})
        ready = httpx.get(f"{server.base_url}/ready")
    finally:
        code, output = server.stop()

    assert created.status_code == 201
    assert ready.json()["checks"] == {"database": "ok", "schema": "ok", "models": "ok"}
    assert code == 0
    assert APP_PASSWORD not in output


def test_the_password_in_the_environment_is_never_logged(postgres_database: str, tmp_path: Path) -> None:
    environment = service_environment(
        DATABASE_URL=postgres_database.replace(f":{APP_PASSWORD}@", "@"),
        DATABASE_PASSWORD=APP_PASSWORD,
        LOG_LEVEL="debug",
    )
    result = subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert APP_PASSWORD not in result.stdout + result.stderr
