"""The PostgreSQL rows of the benchmark: the service and the tutorial style on a local PostgreSQL, in the same run.

A throwaway PostgreSQL cluster from the machine's binaries (tests/postgres.py,
as the test session starts one), pinned to core 0 with the servers (a database
on the same core as its service, as SQLite is in-process), durable settings
(fsync and synchronous_commit on, the defaults). The service runs its own
`service migrate` first, then serves `DATABASE_URL=postgresql+psycopg://…`
with the default THREADPOOL_SIZE; the tutorial baseline reads the same
database. While the 64- and 128-connection runs go, a sampler counts the
service's server connections in pg_stat_activity (application_name task-api).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from service.db import APPLICATION_NAME
from tests.postgres import LocalPostgres, find_binaries, started

from bench.servers import SERVER_CPU

if TYPE_CHECKING:
    from bench.run import Results, Workdir

SERVICE, TUTORIAL = "service-pg", "tutorial-pg"
DATABASE = "bench"
POOL_SIZE = 4  # THREADPOOL_SIZE's default: the service's pool, one connection per thread
SAMPLE_SECONDS = 0.1


@dataclass
class Figures:
    """What only the PostgreSQL phase measures; the rest goes into Results' shared dictionaries."""

    server_version: str = ""
    pool_size: int = POOL_SIZE
    # (endpoint label, connections) -> most connections of the service seen at once in pg_stat_activity
    connections: dict[tuple[str, int], int] = field(default_factory=dict)
    migrate_seconds: float = 0.0
    tutorial_after_64: int = 0
    skipped: str = ""  # why the phase did not run


class ConnectionSampler:
    """Counts the service's client backends in pg_stat_activity until stopped; keeps the maximum."""

    def __init__(self, server: LocalPostgres) -> None:
        self._connection = server.connect(DATABASE)
        self._stop = threading.Event()
        self.maximum = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name = %s"
        while not self._stop.wait(SAMPLE_SECONDS):
            row = self._connection.execute(query, (APPLICATION_NAME,)).fetchone()
            self.maximum = max(self.maximum, int(row[0]) if row else 0)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        self._connection.close()
        return self.maximum


def measure(results: Results, work: Workdir) -> None:
    """Every PostgreSQL row; results.postgres says why not when the binaries are missing."""
    # Imported here: bench.run imports this module for its hook.
    from bench.run import (  # noqa: PLC0415
        GET_TASK,
        LIST_TASKS,
        POST_TASK,
        SEED_TASKS,
        Phase,
        concurrency,
        http_request,
        interleaved,
        loaded_health,
        log,
        make_baseline,
        make_service,
        seed,
    )

    figures = Figures()
    results.postgres = figures
    found = find_binaries()
    if isinstance(found, str):
        figures.skipped = found
        log(f"PostgreSQL rows skipped: {found}")
        return
    database = started(found, wrapper=("taskset", "-c", SERVER_CPU))
    try:
        database.create_database(DATABASE)
        url = database.url(DATABASE)
        with database.connect(DATABASE) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            figures.server_version = str(row[0]) if row else "?"
        figures.migrate_seconds = migrate(url, work)
        service = make_service(work, SERVICE)
        tutorial = make_baseline(work, "tutorial", "/tasks/1")
        tutorial.name = TUTORIAL
        for server in (service, tutorial):
            server.env["DATABASE_URL"] = url
            server.log = work.root / f"{server.name}.log"
        try:
            with Phase(results, "PostgreSQL: servers up, seed"):
                service.start()
                seed(service, SEED_TASKS)
                tutorial.start()
            with Phase(results, "PostgreSQL: throughput"):
                interleaved(results, [(service, GET_TASK), (service, LIST_TASKS), (tutorial, GET_TASK)])
                interleaved(results, [(service, POST_TASK)])
            with Phase(results, "PostgreSQL: health under POST load"):
                loaded_health(results, service)
            with Phase(results, "PostgreSQL: concurrency"):
                for endpoint in (GET_TASK, POST_TASK):
                    for connections in (64, 128):
                        sampler = ConnectionSampler(database)
                        concurrency(results, service, endpoint, connections)
                        figures.connections[(endpoint.label, connections)] = sampler.stop()
                        log(
                            f"{SERVICE}: at most {figures.connections[(endpoint.label, connections)]} server "
                            f"connections (pool {POOL_SIZE}) during {endpoint.label} at {connections}"
                        )
                concurrency(results, tutorial, GET_TASK, 64)  # last: it may stall
                figures.tutorial_after_64 = http_request(tutorial.port, "GET", "/tasks/1", timeout=3)[0]
        finally:
            service.stop(timeout=5)
            tutorial.stop(timeout=3)
    finally:
        database.cleanup()


def migrate(url: str, work: Workdir) -> float:
    """`python -m service migrate` on the fresh database (in the work directory: no .env); seconds it took."""
    started_at = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        env={"DATABASE_URL": url, "LOG_FORMAT": "json", "PATH": "/usr/bin:/bin"},
        cwd=work.root,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return time.perf_counter() - started_at
