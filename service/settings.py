"""Runtime configuration: one typed Settings class read from the environment and an optional .env."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["json", "console", "auto"]

# Engines this build can talk to; PostgreSQL joins this list with its driver.
SUPPORTED_DATABASE_BACKENDS = ("sqlite",)

# SQLAlchemy's URL shape, dialect[+driver]://[user[:password]@][host[:port]][/database][?query],
# read here without importing SQLAlchemy: a bad setting must stop the process in a
# fraction of a second, before the heavy imports (db.py parses the URL for real).
_DATABASE_URL = re.compile(
    r"(?P<scheme>(?P<backend>\w+)(?:\+\w+)?)://(?:[^@/?]*@)?[^/?]*(?:/(?P<database>[^?]*))?(?:\?.*)?", re.DOTALL
)


class InvalidSettings(Exception):
    """Raised with a one-line, user-facing message naming the offending variable."""


class Settings(BaseSettings):
    """Every knob the service reads. Field names are the environment variable names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    database_url: str = "sqlite:///./data/tasks.db"
    models_dir: Path = Path("./models")
    # Never empty: uvicorn would bind an empty host to every interface.
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "info"
    log_format: LogFormat = "auto"
    workers: int = Field(default=1, ge=1, le=64)
    # Threads that run blocking work (database calls, model hashing). The
    # connection pool is sized to match, so a thread never waits for a connection.
    threadpool_size: int = Field(default=4, ge=1, le=256)
    # Largest request body accepted (bytes). A maximal task is under 10 kB of
    # JSON (200 + 2000 characters, up to 4 bytes each in UTF-8); 64 KiB leaves
    # room for escapes and forks' extra fields while refusing floods early (413).
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Seconds uvicorn waits for in-flight requests after SIGTERM; keep it below
    # the platform's grace period (Docker: 10 s, Kubernetes: 30 s by default).
    shutdown_timeout: int = Field(default=8, ge=0, le=3600)

    # Observability (docs/observability.md). Tracing has no setting of ours: the
    # standard OTEL_* variables configure it, and PROMETHEUS_MULTIPROC_DIR the
    # metrics of several workers; their libraries read those from the environment.
    # GET /metrics and the measurements behind it.
    metrics_enabled: bool = True
    # What the build-info metric and the trace resource report. The image sets
    # both from its VERSION and REVISION build arguments; unset or empty, the
    # version is the installed package's and the revision "unknown".
    build_version: str = ""
    build_revision: str = ""

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        url = _DATABASE_URL.fullmatch(value)
        if url is None:
            raise ValueError("not a database URL (expected e.g. sqlite:///./data/tasks.db)")
        if url["backend"] not in SUPPORTED_DATABASE_BACKENDS:
            supported = ", ".join(SUPPORTED_DATABASE_BACKENDS)
            raise ValueError(f"unsupported scheme {url['scheme']!r}; supported: {supported}")
        if url["backend"] == "sqlite" and url["database"] in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database is not supported; give a file path")
        return value

    @property
    def service_version(self) -> str:
        """BUILD_VERSION, else the installed package's version, else "unknown"."""
        if self.build_version:
            return self.build_version
        try:
            return metadata.version("task-api")
        except metadata.PackageNotFoundError:
            return "unknown"

    @property
    def service_revision(self) -> str:
        """BUILD_REVISION, else "unknown"."""
        return self.build_revision or "unknown"

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file DATABASE_URL names, or None for another engine."""
        url = _DATABASE_URL.fullmatch(self.database_url)
        return Path(url["database"]) if url and url["backend"] == "sqlite" else None


def load_settings() -> Settings:
    """Read settings from the environment, turning validation errors into one readable line."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        variable = ".".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{variable}: {message} (got {error['input']!r})")
    return "invalid configuration: " + "; ".join(problems)
