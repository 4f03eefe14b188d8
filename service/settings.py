"""Runtime configuration: one typed Settings class read from the environment and an optional .env."""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["critical", "error", "warning", "info", "debug"]
LogFormat = Literal["json", "console", "auto"]

# Engines this build can talk to, each with the drivers it ships (None: the URL names none,
# SQLAlchemy's default for the engine: pysqlite, and psycopg 3 since SQLAlchemy 2.1).
SUPPORTED_DATABASE_BACKENDS = {"sqlite": (None, "pysqlite"), "postgresql": (None, "psycopg")}

# SQLAlchemy's URL shape, dialect[+driver]://[user[:password]@][host[:port]][/database][?query],
# read here without importing SQLAlchemy: a bad setting must stop the process in a
# fraction of a second, before the heavy imports (db.py parses the URL for real).
_DATABASE_URL = re.compile(
    r"(?P<scheme>(?P<backend>\w+)(?:\+(?P<driver>\w+))?)://"
    r"(?:(?P<user>[^@/?:]*)(?::(?P<password>[^@/?]*))?@)?(?P<host>[^/?:]*)(?::(?P<port>[^/?]*))?"
    r"(?:/(?P<database>[^?]*))?(?:\?.*)?",
    re.DOTALL,
)
MASK = "***"

# Where secret files are read from (pydantic-settings' secrets directory: one file per
# setting, named like the variable, e.g. /run/secrets/database_password). Compose
# secrets and Kubernetes Secret volumes land there.
SECRETS_DIR_VARIABLE = "SECRETS_DIR"
DEFAULT_SECRETS_DIR = Path("/run/secrets")


def mask_database_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***: fit for logs and error messages.

    Works on any text shaped like scheme://user:password@host..., parsed or not, and
    takes the last @ before the path as the end of the password, so a password that
    holds an unescaped @ is masked whole as well.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority_end = min((index for index in (rest.find("/"), rest.find("?")) if index >= 0), default=len(rest))
    userinfo, at, _host = rest[:authority_end].rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:{MASK}@{rest[len(userinfo) + 1 :]}"


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
    # --- Server database (PostgreSQL) and migrations ---------------------------
    # The password of DATABASE_URL's user, when the URL carries none: usually the
    # file SECRETS_DIR/database_password, so it is never in the environment.
    database_password: SecretStr | None = None
    # Seconds to establish a connection (libpq connect_timeout): bounds how long
    # a request waits while the server is down before it answers 503.
    database_connect_timeout: int = Field(default=5, ge=1, le=300)
    # Seconds after which a pooled connection is replaced, so no connection
    # outlives a server-side or proxy idle timeout (PgBouncer, cloud NAT).
    database_pool_recycle: int = Field(default=1800, ge=1, le=86400)
    # Seconds `service migrate` waits for another migration to finish (the lock).
    migrate_lock_timeout: int = Field(default=60, ge=0, le=3600)

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        url = _DATABASE_URL.fullmatch(value)
        if url is None:
            raise ValueError(
                "not a database URL (expected e.g. sqlite:///./data/tasks.db or "
                "postgresql+psycopg://USER@HOST:5432/DATABASE)"
            )
        backend, driver = url["backend"], url["driver"]
        if backend == "postgres":
            raise ValueError("unsupported scheme 'postgres'; write postgresql:// (or postgresql+psycopg://)")
        if backend not in SUPPORTED_DATABASE_BACKENDS:
            supported = ", ".join(SUPPORTED_DATABASE_BACKENDS)
            raise ValueError(f"unsupported scheme {url['scheme']!r}; supported: {supported}")
        if driver not in SUPPORTED_DATABASE_BACKENDS[backend]:
            drivers = ", ".join(f"{backend}+{name}" for name in SUPPORTED_DATABASE_BACKENDS[backend] if name)
            raise ValueError(f"unsupported driver {driver!r}; supported: {backend}://, {drivers}")
        if backend == "sqlite" and url["database"] in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database is not supported; give a file path")
        if backend == "postgresql":
            if url["port"] and not url["port"].isdigit():
                raise ValueError(f"the port must be a number, not {url['port']!r}")
            if not url["database"]:
                raise ValueError("name the database: postgresql+psycopg://USER@HOST:5432/DATABASE")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> Settings:
        url = _DATABASE_URL.fullmatch(self.database_url)
        if self.database_password is not None and url is not None:
            if url["backend"] == "sqlite":
                raise ValueError("DATABASE_PASSWORD is set but DATABASE_URL is a SQLite file, which takes none")
            if url["password"] is not None:
                raise ValueError("DATABASE_URL has a password and DATABASE_PASSWORD is set too; give it in one place")
        return self

    @property
    def database_backend(self) -> str:
        """The engine DATABASE_URL names: "sqlite" or "postgresql"."""
        url = _DATABASE_URL.fullmatch(self.database_url)
        return url["backend"] if url else ""

    @property
    def masked_database_url(self) -> str:
        return mask_database_url(self.database_url)

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
    """Read settings from the environment, .env and the secrets directory; errors become one readable line."""
    try:
        return Settings(_secrets_dir=secrets_directory())
    except ValidationError as exc:
        raise InvalidSettings(_describe(exc)) from None


def secrets_directory() -> Path | None:
    """SECRETS_DIR from the environment, else /run/secrets when it exists, else None (no secret files).

    Read from the environment only: it says where the other settings come from.
    """
    given = os.environ.get(SECRETS_DIR_VARIABLE)
    if not given:
        return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None
    directory = Path(given)
    if not directory.is_dir():
        raise InvalidSettings(f"{SECRETS_DIR_VARIABLE}: {given} is not a directory")
    return directory


# Settings whose value is a secret or may hold one: an error names them but never echoes them whole.
_SECRET_FIELDS = {"database_password"}


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        variable = ".".join(str(part) for part in error["loc"]).upper()
        message = error["msg"].removeprefix("Value error, ")
        field = str(error["loc"][0]) if error["loc"] else ""
        if not field:  # a check across fields (the model validator): its message names the variables
            problems.append(message)
        elif field in _SECRET_FIELDS:
            problems.append(f"{variable}: {message}")
        elif field == "database_url" and isinstance(error["input"], str):
            masked = mask_database_url(error["input"])
            # Text with an @ that is not shaped like a URL may still hold a password: not echoed.
            shown = f" (got {masked!r})" if masked != error["input"] or "@" not in masked else ""
            problems.append(f"{variable}: {message}{shown}")
        else:
            problems.append(f"{variable}: {message} (got {error['input']!r})")
    return "invalid configuration: " + "; ".join(problems)
