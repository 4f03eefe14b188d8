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
from service.settings import Settings

SETTINGS_VARIABLES = [name.upper() for name in Settings.model_fields]
THIRD_PARTY_PREFIXES = ("OTEL_", "PROMETHEUS_")


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


@pytest.fixture
def settings(tmp_path: Path, models_dir: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/data/tasks.db",
        models_dir=models_dir,
        _env_file=None,
    )


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
