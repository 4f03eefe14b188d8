"""Settings: defaults, environment and .env, and one-line errors that stop start-up with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import InvalidSettings, Settings, load_settings
from service.startup import check_storage
from tests.live import free_port, service_environment


def test_defaults() -> None:
    settings = load_settings()

    assert settings.database_url == "sqlite:///./data/tasks.db"
    assert settings.models_dir == Path("models")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.log_level, settings.log_format, settings.workers) == ("info", "auto", 1)


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("MODELS_DIR", "/models")

    settings = load_settings()

    assert (settings.port, settings.log_level, settings.log_format) == (9001, "debug", "json")
    assert settings.models_dir == Path("/models")


def test_dotenv_in_working_directory_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PORT=9100\nWORKERS=3\nUNRELATED=1\n")
    monkeypatch.setenv("WORKERS", "2")

    settings = load_settings()

    assert (settings.port, settings.workers) == (9100, 2)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORT", "eighty", "PORT: Input should be a valid integer"),
        ("PORT", "70000", "PORT: Input should be less than or equal to 65535"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: Input should be 'json', 'console' or 'auto'"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: Input should be"),
        ("WORKERS", "0", "WORKERS: Input should be greater than or equal to 1"),
        ("DATABASE_URL", "mysql://db/tasks", "DATABASE_URL: unsupported scheme 'mysql'; supported: sqlite, postgresql"),
        ("DATABASE_URL", "not a url", "DATABASE_URL: not a database URL"),
        ("DATABASE_URL", "sqlite://", "DATABASE_URL: an in-memory SQLite database is not supported"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(InvalidSettings) as raised:
        load_settings()

    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_settings_are_immutable() -> None:
    settings = Settings(_env_file=None)

    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def run_service(workdir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m service` in workdir with only `settings` set, to completion (it is expected to refuse to start).

    PORT is a free port unless given: the port check runs before the storage
    checks, and the default 8000 may be taken by anything else on the machine.
    """
    return subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=workdir,
        env=service_environment(**{"PORT": str(free_port()), **settings}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("variable", "value"), [("PORT", "abc"), ("LOG_FORMAT", "yaml")])
def test_process_exits_2_with_one_line_naming_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    result = run_service(tmp_path, **{variable: value})

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: invalid configuration: {variable}: ")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("MODELS_DIR", "{tmp}/a-file", "MODELS_DIR: {tmp}/a-file is not a directory"),
        ("DATABASE_URL", "sqlite:///{tmp}/a-file/tasks.db", "DATABASE_URL: cannot create the database directory"),
        ("DATABASE_URL", "sqlite:///{tmp}/a-directory", "DATABASE_URL: cannot open the database"),
    ],
)
def test_unusable_storage_stops_start_up_with_one_line(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-directory").mkdir()

    result = run_service(tmp_path, **{variable: value.format(tmp=tmp_path)})  # 30 s hang guard

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: " + expected.format(tmp=tmp_path)), lines[0]


def test_missing_models_directory_does_not_stop_start_up(settings: Settings, tmp_path: Path) -> None:
    check_storage(settings.model_copy(update={"models_dir": tmp_path / "not-mounted-yet"}))
