"""Drills across processes: three `python -m service` on three ports against one PostgreSQL database.

- creates, patches and deletes from 24 clients spread over the three: every
  acknowledged write is there with its last acknowledged value, nothing else
  is, ids are unique; meanwhile the connections the processes hold, read from
  pg_stat_activity, never exceed processes x WORKERS x THREADPOOL_SIZE, plus
  the one of a `service migrate` started during the load;
- SIGTERM to one of the three under that load, with requests of its waiting on
  row locks: they complete, the other two keep answering, nothing acknowledged
  is lost and no request that failed was applied;
- three `service migrate` started at the same moment on an empty database.

On the test session's PostgreSQL (tests/conftest.py), each drill on a database
of its own; the figures they print (`-s`) are in docs/robustness.md.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from service.db import APPLICATION_NAME
from service.schema import alembic_config
from tests.live import LiveServer, service_environment
from tests.postgres import APP_USER, LocalPostgres
from tests.robustness.connections import sampling_connections
from tests.robustness.ledger import REQUEST_TIMEOUT, SCRIPT, Ledger, State, TaskEntry, check, run_client

PROCESSES = 3
THREADPOOL_SIZE = 4  # small, so that the connection bound is within reach of the load
# One worker per process: with WORKERS=2 the bound held as well (18 connections of 24 at most), but the nine
# interpreters made the test take 47-102 s on the shared machine (docs/robustness.md): too much for every CI run.
WORKERS = 1
CLIENTS = 24
TASKS_PER_CLIENT = 4
HANG_BOUND = 120.0  # seconds: only a hung drill waits this long for anything
MIGRATE_APPLICATION_NAME = "task-api-migrate"

Replicas = Callable[..., list[LiveServer]]


@pytest.fixture(autouse=True)
def quiet_http_client() -> Iterator[None]:
    """httpx logs every request at info: thousands of lines around the figures these drills print."""
    logger = logging.getLogger("httpx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    """replicas(database_url, **settings): PROCESSES live servers on one database, started together; stopped after."""
    (tmp_path / "models").mkdir()
    started: list[LiveServer] = []

    def start(database_url: str, **settings: str) -> list[LiveServer]:
        servers = [
            LiveServer(tmp_path, DATABASE_URL=database_url, THREADPOOL_SIZE=str(THREADPOOL_SIZE), **settings)
            for _ in range(PROCESSES)
        ]
        started.extend(servers)
        return [server.wait_until_healthy(timeout=HANG_BOUND) for server in servers]

    yield start
    # All signalled first, so that they drain at the same time rather than one after the other.
    for server in started:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in started:
        try:
            server.process.wait(timeout=HANG_BOUND)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def table_rows(postgres: LocalPostgres, database: str) -> dict[int, State]:
    with postgres.connect(database, user=APP_USER) as connection:
        rows = connection.execute("SELECT id, title, description, priority, status FROM tasks").fetchall()
    return {int(str(row[0])): (str(row[1]), str(row[2]), str(row[3]), str(row[4])) for row in rows}


def listed_rows(base_url: str) -> list[tuple[int, State]]:
    """Every task through GET /tasks, page by page (bounded by the total the first page reports)."""
    listed: list[tuple[int, State]] = []
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as client:
        total = client.get("/tasks", params={"limit": 1}).json()["total"]
        for offset in range(0, total + 100, 100):
            page = client.get("/tasks", params={"limit": 100, "offset": offset}).json()["items"]
            listed += [
                (item["id"], (item["title"], item["description"], item["priority"], item["status"])) for item in page
            ]
    return listed


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {HANG_BOUND} s: {what}")
        time.sleep(0.01)


def start_clients(ledger: Ledger, before_last_task: Callable[[], object]) -> list[threading.Thread]:
    clients = [
        threading.Thread(
            target=run_client,
            args=(ledger, number),
            kwargs={"tasks": TASKS_PER_CLIENT, "before_last_task": before_last_task},
        )
        for number in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    return clients


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(HANG_BOUND)
    assert not any(thread.is_alive() for thread in threads), "a client hung"


def planned_requests() -> int:
    deleted = TASKS_PER_CLIENT // 2
    return CLIENTS * (TASKS_PER_CLIENT * len(SCRIPT) + deleted)


def assert_listing_matches_table(base_url: str, rows: dict[int, State]) -> None:
    listed = listed_rows(base_url)
    ids = [task_id for task_id, _ in listed]
    assert len(ids) == len(set(ids)), "the listing repeats an id"
    assert dict(listed) == rows


def test_writes_spread_over_three_processes_all_land_with_their_last_acknowledged_value(
    replicas: Replicas, postgres: LocalPostgres, postgres_database: str, tmp_path: Path
) -> None:
    workers = WORKERS
    servers = replicas(postgres_database, WORKERS=str(workers))
    ledger = Ledger([server.base_url for server in servers])
    database = database_name(postgres_database)
    migrate_started = threading.Event()

    started_at = time.monotonic()
    with sampling_connections(postgres, database) as peak:
        clients = start_clients(ledger, before_last_task=lambda: migrate_started.wait(HANG_BOUND))
        # A release's `service migrate` while the replicas serve (the schema is at head: it only reads).
        wait_until(lambda: len(ledger.attempts) >= planned_requests() // 3, "a third of the load")
        migrate = subprocess.Popen(
            [sys.executable, "-m", "service", "migrate"],
            cwd=tmp_path,
            env=service_environment(DATABASE_URL=f"{postgres_database}?application_name={MIGRATE_APPLICATION_NAME}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        migrate_started.set()
        join_all(clients)
        migrate_output, migrate_errors = migrate.communicate(timeout=HANG_BOUND)
    seconds = time.monotonic() - started_at

    rows = table_rows(postgres, database)
    verdict = check(ledger, rows)
    outcomes = ledger.outcomes()
    bound = PROCESSES * workers * THREADPOOL_SIZE
    print(
        f"{PROCESSES} processes x {workers} workers x THREADPOOL_SIZE {THREADPOOL_SIZE}, {CLIENTS} clients: "
        f"{len(ledger.attempts)} requests {dict(outcomes)} in {seconds:.1f} s; {verdict.rows} rows; "
        f"connections at most {peak.peaks[APPLICATION_NAME]} serving (bound {bound}), "
        f"{peak.peaks[MIGRATE_APPLICATION_NAME]} migrate, {peak.peak_total} in all, {peak.samples} samples"
    )
    assert outcomes == {"acknowledged": planned_requests()}
    assert verdict.problems == []
    assert len(set(rows)) == len(rows) == CLIENTS * (TASKS_PER_CLIENT - TASKS_PER_CLIENT // 2)
    assert_listing_matches_table(servers[2].base_url, rows)
    assert migrate.returncode == 0, migrate_errors
    assert [json.loads(line)["event"] for line in migrate_output.splitlines()] == ["schema_up_to_date"]
    # The bound, and a load that came near it: more than one connection per worker process.
    assert peak.peaks[APPLICATION_NAME] <= bound
    assert peak.peak_of(MIGRATE_APPLICATION_NAME) <= 1  # at head, `service migrate` reads on one connection
    assert peak.peak_total <= bound + 1
    assert peak.peaks[APPLICATION_NAME] > PROCESSES * workers


def waiting_on_locks(postgres: LocalPostgres, database: str) -> int:
    """Backends of `database` waiting for a lock (read on a connection of its own: a snapshot lasts a transaction)."""
    with postgres.connect(database, user=APP_USER) as connection:
        query = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
        row = connection.execute(query, [database]).fetchone()
    return int(str(row[0])) if row else 0


def test_sigterm_to_one_of_three_under_load_completes_its_requests_while_the_others_answer(
    replicas: Replicas, postgres: LocalPostgres, postgres_database: str
) -> None:
    # A raised SHUTDOWN_TIMEOUT: the drill holds the victim's requests on row locks until the survivors
    # have answered, which on a loaded machine may take longer than the default 8 s.
    servers = replicas(postgres_database, SHUTDOWN_TIMEOUT="120")
    victim, survivors = 0, [1, 2]
    ledger = Ledger([server.base_url for server in servers])
    database = database_name(postgres_database)

    # Three tasks whose PATCH, PATCH and DELETE will be waiting on row locks inside the victim at SIGTERM.
    held = [ledger.new_task(f"held{number}") for number in range(3)]
    with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
        for task in held:
            ledger.perform(client, task, "create", survivors[0], retry=False)
    held_operations = ("patch", "patch", "delete")
    held_outcomes: dict[str, str] = {}

    def send_held(task: TaskEntry, operation: str) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            held_outcomes[task.token] = ledger.perform(client, task, operation, victim, retry=False)[1]

    signalled = threading.Event()
    started_at = time.monotonic()
    with sampling_connections(postgres, database) as peak:
        clients = start_clients(ledger, before_last_task=lambda: signalled.wait(HANG_BOUND))
        wait_until(lambda: len(ledger.attempts) >= planned_requests() // 3, "a third of the load")
        with postgres.connect(database, user=APP_USER) as locker, locker.transaction():
            locker.execute("SELECT id FROM tasks WHERE id = ANY(%s) FOR UPDATE", [[task.task_id for task in held]])
            senders = [
                threading.Thread(target=send_held, args=(task, operation))
                for task, operation in zip(held, held_operations, strict=True)
            ]
            for sender in senders:
                sender.start()
            wait_until(lambda: waiting_on_locks(postgres, database) == len(held), "the held requests on the locks")
            servers[victim].process.send_signal(signal.SIGTERM)
            signalled_at = time.monotonic()
            signalled.set()
            # The victim drains (its held requests keep it alive) while the survivors answer the load.
            wait_until(
                lambda: all(ledger.outcomes([index], after=signalled_at)["acknowledged"] >= 10 for index in survivors),
                "10 answers from each survivor after the signal",
            )
            victim_draining = servers[victim].process.poll() is None
        join_all(senders)
        victim_exit = servers[victim].process.wait(HANG_BOUND)
        join_all(clients)
    seconds = time.monotonic() - started_at

    rows = table_rows(postgres, database)
    verdict = check(ledger, rows)
    victim_after = ledger.outcomes([victim], after=signalled_at)
    survivors_after = ledger.outcomes(survivors, after=signalled_at)
    bound = PROCESSES * THREADPOOL_SIZE
    print(
        f"SIGTERM to 1 of {PROCESSES} ({CLIENTS} clients, {len(ledger.attempts)} requests in {seconds:.1f} s): "
        f"before the signal {dict(ledger.outcomes(before=signalled_at))}; held in the victim: {held_outcomes}; "
        f"after it, to the victim {dict(victim_after)}, to the survivors {dict(survivors_after)}; "
        f"unknown outcomes {dict(Counter(a.detail for a in ledger.attempts if a.outcome == 'unknown'))}, "
        f"{verdict.unknown} of them writes, {verdict.unknown_applied} of those applied; {verdict.rows} rows; "
        f"victim exit {victim_exit}; connections at most {peak.peaks[APPLICATION_NAME]} (bound {bound})"
    )
    assert victim_draining
    assert held_outcomes == {task.token: "acknowledged" for task in held}
    assert victim_exit == 0
    # The survivors answered everything, before the signal and after it.
    assert set(ledger.outcomes(survivors)) == {"acknowledged"}
    assert survivors_after["acknowledged"] > 0
    # The victim refused connections only once it had closed its listener.
    assert set(ledger.outcomes([victim], before=signalled_at)) <= {"acknowledged", "unknown"}
    assert set(victim_after) <= {"acknowledged", "refused", "unknown"}
    assert victim_after["refused"] > 0  # the load did go on trying the victim after it closed its listener
    assert verdict.problems == []
    assert verdict.unknown_applied == 0  # a request the victim had taken in was answered, never cut off
    assert_listing_matches_table(servers[survivors[0]].base_url, rows)
    assert peak.peaks[APPLICATION_NAME] <= bound
    assert peak.peaks[APPLICATION_NAME] > PROCESSES


def schema_of(postgres: LocalPostgres, database: str) -> list[tuple[object, ...]]:
    """Columns and constraints of the public schema, comparable between two databases."""
    with postgres.connect(database, user=APP_USER) as connection:
        columns = connection.execute(
            "SELECT table_name, column_name, data_type, is_nullable, is_identity FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        constraints = connection.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1"
        ).fetchall()
    return [*columns, *constraints]


def test_three_migrates_started_at_once_on_an_empty_database_all_exit_0_at_head(
    postgres: LocalPostgres, postgres_database: str, tmp_path: Path
) -> None:
    empty = postgres.create_database()
    url = postgres.url(empty)
    barrier = threading.Barrier(PROCESSES)
    processes: list[subprocess.Popen[str]] = []

    def launch(number: int) -> None:
        environment = service_environment(DATABASE_URL=f"{url}?application_name={MIGRATE_APPLICATION_NAME}-{number}")
        barrier.wait(HANG_BOUND)
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "migrate"],
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(process)

    try:
        started_at = time.monotonic()
        with sampling_connections(postgres, empty) as peak:
            launchers = [threading.Thread(target=launch, args=(number,)) for number in range(PROCESSES)]
            for launcher in launchers:
                launcher.start()
            join_all(launchers)
            outcomes = [(process.communicate(timeout=HANG_BOUND), process.returncode) for process in processes]
        seconds = time.monotonic() - started_at
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                tables = set(inspect(connection).get_table_names())
                versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        finally:
            engine.dispose()
        migrated, reference = schema_of(postgres, empty), schema_of(postgres, database_name(postgres_database))
    finally:
        postgres.drop_database(empty)

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    events = sorted(json.loads(line)["event"] for (stdout, _), _ in outcomes for line in stdout.splitlines())
    per_process = {name: peak.peaks[name] for name in sorted(peak.peaks)}
    print(
        f"{PROCESSES} x `service migrate` at once on an empty database: exit codes "
        f"{[code for _, code in outcomes]} in {seconds:.1f} s; events {events}; alembic_version {versions}; "
        f"connections at most {per_process}, {peak.peak_total} at once"
    )
    assert [code for _, code in outcomes] == [0] * PROCESSES, [stderr for (_, stderr), _ in outcomes]
    assert [stderr for (_, stderr), _ in outcomes] == [""] * PROCESSES
    assert versions == [head]
    assert tables == {"alembic_version", "tasks"}
    assert migrated == reference  # the same schema as the session's template, migrated by one process
    # One migrated under the lock; the others waited for it, then found the schema at head.
    assert events.count("schema_migrated") == 1
    assert events.count("schema_up_to_date") == PROCESSES - 1
    # Each on at most two connections: the lock's and the migration's (README, "Connection budget").
    assert max(peak.peaks.values(), default=0) <= 2
    assert peak.peak_total <= 2 * PROCESSES
