"""Runtime configuration: one typed Settings class read from the environment and an optional .env."""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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


# Signature algorithms a token may use: asymmetric only. HS* would let anyone
# holding the (public) verification key sign tokens, and `none` signs nothing.
TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# Plain http is accepted for an issuer on this machine only (tests, a local IdP):
# over a network, whoever can alter the JWKS response can mint valid tokens.
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


def is_trusted_url(url: str) -> bool:
    """https://..., or http:// to a loopback host: where signing keys may come from."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    return bool(host) and (parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS))


def _comma_separated(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


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
    # --- Edge: protocol limits, load shedding, authentication, CORS -------------
    # Largest request head (request line + headers, bytes) and most header fields;
    # over either, 431 at once and the connection closes (service/protocol.py).
    # 16 KiB is h11's default and fits what proxies forward (nginx: 4 x 8 KiB).
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    max_headers: int = Field(default=100, ge=8, le=10_000)
    # Seconds a connection gets to deliver a complete request head (slowloris),
    # and a request its whole body after the head (slow uploads holding slots).
    header_timeout: float = Field(default=10, gt=0, le=300)
    body_timeout: float = Field(default=30, gt=0, le=3600)
    # Requests in flight per process; beyond it a JSON 503 with Retry-After
    # instead of an unbounded queue. Probes and /metrics are never refused.
    max_concurrent_requests: int = Field(default=256, ge=1, le=100_000)
    # Bearer tokens (JWT access tokens) from this OpenID Connect issuer; unset:
    # no authentication (local work). AUTH_AUDIENCE is then required.
    auth_issuer: str | None = None
    auth_audience: str | None = Field(default=None, validate_default=True)
    # The issuer's key set; by default discovered from its
    # /.well-known/openid-configuration (jwks_uri).
    auth_jwks_url: str | None = None
    auth_algorithms: Annotated[tuple[str, ...], NoDecode] = ("RS256", "ES256")
    # Seconds of clock skew tolerated on exp and nbf.
    auth_leeway: int = Field(default=30, ge=0, le=300)
    # Scope names the issuer grants for each permission.
    auth_scope_tasks_read: str = Field(default="tasks:read", min_length=1)
    auth_scope_tasks_write: str = Field(default="tasks:write", min_length=1)
    auth_scope_models_read: str = Field(default="models:read", min_length=1)
    # Cached keys older than this are refreshed in the background (served meanwhile).
    auth_jwks_cache_seconds: int = Field(default=300, ge=10, le=86_400)
    # At most one key fetch per this many seconds, whatever tokens arrive
    # (an unknown key id triggers one, rotation needs it, an attacker must not).
    auth_jwks_min_refresh_seconds: float = Field(default=10, ge=0.1, le=3600)
    # Per network operation of the discovery and key fetches.
    auth_http_timeout: float = Field(default=5, gt=0, le=60)
    # Browser origins allowed to call the API (comma-separated); empty: no CORS.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("auth_issuer", "auth_audience", "auth_jwks_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `AUTH_ISSUER=` (compose's ${AUTH_ISSUER:-}) means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("auth_issuer", "auth_jwks_url")
    @classmethod
    def _trusted_url(cls, value: str | None) -> str | None:
        if value is not None and not is_trusted_url(value):
            raise ValueError("must be an https:// URL (plain http only for localhost)")
        return value

    @field_validator("auth_audience")
    @classmethod
    def _audience_with_issuer(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("auth_issuer"):
            raise ValueError("required when AUTH_ISSUER is set (the API's identifier at the issuer)")
        return value

    @field_validator("auth_algorithms", "cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_separated(value)

    @field_validator("auth_algorithms")
    @classmethod
    def _asymmetric_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        refused = [name for name in value if name not in TOKEN_ALGORITHMS]
        if refused or not value:
            choices = ", ".join(TOKEN_ALGORITHMS)
            raise ValueError(f"{', '.join(refused) or 'nothing'} not allowed; choose from {choices}")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _explicit_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin == "*":
                raise ValueError("'*' is not accepted: list the origins (e.g. https://app.example.com)")
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return value

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
    def auth_enabled(self) -> bool:
        return self.auth_issuer is not None

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
