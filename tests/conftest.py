"""Shared fixtures: every test gets its own database, models directory and environment."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.log import configure_logging
from service.main import create_app
from service.schema import upgrade_to_head
from service.settings import SECRETS_DIR_VARIABLE, Settings
from tests.postgres import TEMPLATE_DATABASE, LocalPostgres, find_binaries, started

SETTINGS_VARIABLES = [name.upper() for name in Settings.model_fields] + [SECRETS_DIR_VARIABLE]
THIRD_PARTY_PREFIXES = ("OTEL_", "PROMETHEUS_")
# The session's server: fast and throwaway (no fsync), and a session time zone
# that is not UTC, so a test sees it if timestamps followed the server's zone.
POSTGRES_TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "timezone": "Etc/GMT-3",
}


@pytest.fixture(autouse=True, scope="session")
def default_logging() -> None:
    """Configure logging before any logger is used (loggers are cached on first use)."""
    configure_logging(level="info", log_format="json")


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Everything logged during the test, as the JSON lines the service would print."""
    stream = io.StringIO()
    configure_logging(level="info", log_format="json", stream=stream)
    yield stream
    configure_logging(level="info", log_format="json")


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the caller's environment or a .env in the repository."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # The third-party layers' own variables (tracing, multi-worker metrics) too.
    for name in [name for name in os.environ if name.startswith(THIRD_PARTY_PREFIXES)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """One real PostgreSQL for the session, with a template database migrated to head."""
    found = find_binaries()
    if isinstance(found, str):
        pytest.skip(found)
    server = started(found, POSTGRES_TEST_SETTINGS)
    try:
        server.create_database(TEMPLATE_DATABASE)
        upgrade_to_head(Settings(_env_file=None, database_url=server.url(TEMPLATE_DATABASE)))
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def postgres_database(postgres: LocalPostgres) -> Iterator[str]:
    """The DATABASE_URL of a fresh PostgreSQL database at the schema's head (a copy of the template)."""
    name = postgres.create_database(template=TEMPLATE_DATABASE)
    yield postgres.url(name)
    postgres.drop_database(name)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file of the test's own, unless the test runs on every engine (tests/engines.py)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        url: str = request.getfixturevalue("postgres_database")
        return url
    return f"sqlite:///{tmp_path}/data/tasks.db"


@pytest.fixture
def settings(database_url: str, models_dir: Path) -> Settings:
    return Settings(database_url=database_url, models_dir=models_dir, _env_file=None)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


# CI sets FAIL_ON_SKIP=1: a test it can run but skipped (say, a container test
# that found no engine) must fail the run instead of passing silently.
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("FAIL_ON_SKIP") == "1" and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if os.environ.get("FAIL_ON_SKIP") == "1" and _skipped:
        terminalreporter.write_line(f"FAIL_ON_SKIP=1 and {len(_skipped)} test(s) skipped:", red=True)
        for nodeid in _skipped:
            terminalreporter.write_line(f"  {nodeid}", red=True)
