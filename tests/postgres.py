"""A throwaway PostgreSQL server from the binaries on this machine, for the tests and the benchmark.

No pytest in here: bench/postgres.py starts the same server. The binaries
(initdb, pg_ctl, postgres) are looked up on PATH, then in `pg_config --bindir`,
then in /usr/lib/postgresql/*/bin (where Debian and GitHub's Ubuntu runners
keep them). PostgreSQL refuses to run as root: as root, every command runs as
the `postgres` user (runuser) in a directory that user owns; as anyone else,
as the current user. The server listens on 127.0.0.1 only, on a free port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "superuser-secret"  # noqa: S105  (a throwaway test server on 127.0.0.1)
APP_USER = "task_api"
APP_PASSWORD = "s3cret-Pa55word"  # noqa: S105  distinctive, so a test can look for it in any output
TEMPLATE_DATABASE = "task_api_template"
SERVER_USER = "postgres"  # the OS user the server runs as when we are root
START_TIMEOUT = 60


def find_binaries() -> Path | str:
    """The directory holding initdb, pg_ctl and postgres, or why none was found."""
    wanted = ("initdb", "pg_ctl", "postgres")
    on_path = [shutil.which(name) for name in wanted]
    if all(on_path):
        return Path(str(on_path[0])).resolve().parent
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # newest major first
    for directory in candidates:
        if all((directory / name).is_file() for name in wanted):
            return directory
    return (
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, in `pg_config --bindir` "
        "or in /usr/lib/postgresql/*/bin"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalPostgres:
    """One PostgreSQL cluster in a temporary directory: initdb, start, stop, databases for the app user."""

    bin_dir: Path
    settings: dict[str, str] = field(default_factory=dict)  # extra postgres -c settings
    wrapper: tuple[str, ...] = ()  # runs every command under it, e.g. ("taskset", "-c", "0")
    port: int = field(default_factory=free_port)
    directory: Path = field(init=False)

    def __post_init__(self) -> None:
        # Not under pytest's tmp_path: its parents are 0700 root, which the postgres user cannot enter.
        self.directory = Path(tempfile.mkdtemp(prefix="task-api-pg-"))
        self.directory.chmod(0o700)
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.directory, SERVER_USER, SERVER_USER)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    def _run(self, *command: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        argv = [*self.wrapper, str(self.bin_dir / command[0]), *command[1:]]
        if self._as_root:
            argv = ["runuser", "-u", SERVER_USER, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.directory)
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{' '.join(command[:2])} failed ({result.returncode}):\n{result.stderr}\n{log}")
        return result

    def init(self) -> LocalPostgres:
        password_file = self.directory / "superuser-password"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        if self._as_root:
            shutil.chown(password_file, SERVER_USER, SERVER_USER)
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, f"--pwfile={password_file}",
            "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        password_file.unlink()
        return self

    def _options(self) -> str:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.directory),
            **self.settings,
        }
        return " ".join(f"-c {name}={value}" for name, value in settings.items())

    def start(self) -> LocalPostgres:
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log_file), "-w", "-o", self._options())
        return self

    def restart(self) -> None:
        """pg_ctl restart -m fast: every connection is cut, the server is down for a moment, then back."""
        # -l again: without it the new postmaster would write to (and hold open) our pipes.
        log = str(self.log_file)
        self._run("pg_ctl", "restart", "-D", str(self.data), "-l", log, "-m", "fast", "-w", "-o", self._options())

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")

    def cleanup(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    # ----------------------------------------------------------------- clients

    def url(self, database: str, *, user: str = APP_USER, password: str | None = APP_PASSWORD) -> str:
        """A DATABASE_URL for `database` (SQLAlchemy form, psycopg driver)."""
        credentials = user if password is None else f"{user}:{password}"
        return f"postgresql+psycopg://{credentials}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", *, user: str = SUPERUSER) -> psycopg.Connection[tuple[object, ...]]:
        password = SUPERUSER_PASSWORD if user == SUPERUSER else APP_PASSWORD
        return psycopg.connect(
            host="127.0.0.1", port=self.port, dbname=database, user=user, password=password, autocommit=True
        )

    def create_app_user(self, *, extra: Sequence[str] = ()) -> None:
        with self.connect() as connection:
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(APP_USER), sql.Literal(APP_PASSWORD)
                )
            )
            for statement in extra:
                connection.execute(statement.encode())

    def create_database(self, name: str | None = None, *, template: str = "template0") -> str:
        """A new database owned by the app user, copied from `template`; its name."""
        name = name or f"test_{uuid.uuid4().hex[:16]}"
        with self.connect() as connection:
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(APP_USER), sql.Identifier(template)
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        with self.connect() as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def started(
    bin_dir: Path, settings: Mapping[str, str] | None = None, *, wrapper: tuple[str, ...] = ()
) -> LocalPostgres:
    """initdb, start and the app user (`settings`: postgres -c options); the caller calls cleanup()."""
    server = LocalPostgres(bin_dir, settings=dict(settings or {}), wrapper=wrapper)
    try:
        server.init().start()
        server.create_app_user()
    except BaseException:
        server.cleanup()
        raise
    return server


@contextlib.contextmanager
def running(bin_dir: Path, settings: Mapping[str, str] | None = None) -> Iterator[LocalPostgres]:
    server = started(bin_dir, settings)
    try:
        yield server
    finally:
        server.cleanup()
