"""PostgreSQL faults while serving, as the SQLite drills do: a server restart under load, every connection slot
taken by another client, bad credentials and an unreachable server at start-up, concurrent writers.

The drills run on a PostgreSQL of their own (restarting the session's server
would disturb nothing, but a drill should not depend on that), started from the
binaries as the test session's is. The figures they print are in docs/robustness.md.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text

from service.schema import upgrade_to_head
from service.settings import Settings
from tests.live import LiveServer, free_port, service_environment
from tests.postgres import APP_PASSWORD, APP_USER, LocalPostgres, find_binaries, started
from tests.robustness.leaks import leaked

CONNECT_TIMEOUT = 2  # DATABASE_CONNECT_TIMEOUT of the drills' servers
HANG_BOUND = 15.0  # seconds: only a request stuck past every timeout gets near it
MAX_CONNECTIONS = 12  # the drill server's; 3 of them are reserved for superusers
WRITERS = 8
CREATES_PER_WRITER = 200


@pytest.fixture(scope="module")
def drill_postgres() -> Iterator[LocalPostgres]:
    found = find_binaries()
    if isinstance(found, str):
        pytest.skip(found)
    server = started(found, {"fsync": "off", "max_connections": str(MAX_CONNECTIONS)})
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def database(drill_postgres: LocalPostgres) -> Iterator[str]:
    """A fresh database migrated to head; its DATABASE_URL."""
    name = drill_postgres.create_database()
    url = drill_postgres.url(name)
    upgrade_to_head(Settings(_env_file=None, database_url=url))
    yield url
    drill_postgres.drop_database(name)


@pytest.fixture
def serve(database: str, tmp_path: Path) -> Iterator[LiveServer]:
    (tmp_path / "models").mkdir()
    server = LiveServer(tmp_path, DATABASE_URL=database, DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT))
    try:
        yield server.wait_until_healthy()
    finally:
        server.stop()


def count_rows(database: str) -> int:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM tasks")).scalar_one())
    finally:
        engine.dispose()


def assert_clean_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": "Storage temporarily unavailable; retry later"}
    assert response.headers["retry-after"] == "1"
    assert not leaked(response.text)


@dataclass
class Answer:
    method: str
    status: int
    seconds: float
    at: float
    response: httpx.Response


def keep_requesting(base_url: str, stop: threading.Event, answers: list[Answer], limit: int = 3000) -> None:
    """POST, then GET what was created, until told to stop (or `limit` requests): every answer recorded."""
    with httpx.Client(base_url=base_url, timeout=HANG_BOUND + 15) as client:
        known = None
        for number in range(limit):
            if stop.is_set():
                return
            started_at = time.monotonic()
            if number % 2 == 0 or known is None:
                method, response = "POST", client.post("/tasks", json={"title": f"restart drill {number}"})
                if response.status_code == 201:
                    known = response.json()["id"]
            else:
                method, response = "GET", client.get(f"/tasks/{known}")
            answers.append(Answer(method, response.status_code, time.monotonic() - started_at, started_at, response))


def test_server_restart_under_load_answers_503_briefly_then_recovers_without_a_restart(
    serve: LiveServer, drill_postgres: LocalPostgres, database: str
) -> None:
    stop = threading.Event()
    answers: list[Answer] = []
    health: list[int] = []
    workers = [threading.Thread(target=keep_requesting, args=(serve.base_url, stop, answers)) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        restart_started = time.monotonic()
        drill_postgres.restart()
        restart_seconds = time.monotonic() - restart_started
        health.append(httpx.get(f"{serve.base_url}/health", timeout=5).status_code)
        time.sleep(3.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(HANG_BOUND + 30)
    with httpx.Client(base_url=serve.base_url, timeout=10) as client:
        after = [client.post("/tasks", json={"title": f"after {n}"}) for n in range(20)]
        ready = client.get("/ready")

    statuses = Counter((answer.method, answer.status) for answer in answers)
    unavailable = [answer for answer in answers if answer.status == 503]
    window = (max(a.at for a in unavailable) - min(a.at for a in unavailable)) if unavailable else 0.0
    slowest = max(answer.seconds for answer in answers)
    print(
        f"pg_ctl restart -m fast took {restart_seconds:.2f} s; {len(answers)} requests under load: {dict(statuses)}; "
        f"503s over {window:.2f} s; slowest answer {slowest:.2f} s"
    )
    assert {status for _, status in statuses} <= {200, 201, 503}
    assert unavailable, "no request met the outage: the drill proved nothing"
    for answer in unavailable:
        assert_clean_503(answer.response)
    assert slowest < HANG_BOUND
    assert health == [200]
    assert serve.process.poll() is None  # the same process throughout
    assert [response.status_code for response in after] == [201] * 20
    assert ready.status_code == 200
    # Every 201 is a row. A POST whose commit reached the server just before the
    # connection was cut may have been answered 503 and still be there: at most one per 503.
    created = statuses["POST", 201] + len(after)
    assert created <= count_rows(database) <= created + statuses["POST", 503]


@contextmanager
def every_slot_taken(drill_postgres: LocalPostgres, database: str) -> Iterator[int]:
    """Another client holding every connection PostgreSQL allows non-superusers; how many it took."""
    held: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        for _ in range(MAX_CONNECTIONS):
            try:
                held.append(drill_postgres.connect(database.rsplit("/", 1)[1], user=APP_USER))
            except psycopg.OperationalError as exc:
                if "reserved" not in str(exc) and "too many clients" not in str(exc):
                    raise
                break
        yield len(held)
    finally:
        for connection in held:
            connection.close()


def create_concurrently(base_url: str, count: int, clients: int = 8) -> list[httpx.Response]:
    def one(number: int) -> httpx.Response:
        return httpx.post(f"{base_url}/tasks", json={"title": f"crowded {number}"}, timeout=HANG_BOUND + 15)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


def test_connection_slots_taken_by_another_client_answer_503_then_the_service_recovers(
    serve: LiveServer, drill_postgres: LocalPostgres, database: str
) -> None:
    with every_slot_taken(drill_postgres, database) as taken:
        started_at = time.monotonic()
        crowded = create_concurrently(serve.base_url, 40)
        crowded_seconds = time.monotonic() - started_at
        health = httpx.get(f"{serve.base_url}/health", timeout=5)
        ready = httpx.get(f"{serve.base_url}/ready", timeout=HANG_BOUND)
    after = create_concurrently(serve.base_url, 40)

    statuses = Counter(response.status_code for response in crowded)
    print(f"another client took {taken} connections; 40 creates: {dict(statuses)} in {crowded_seconds:.2f} s")
    assert taken > 0
    assert set(statuses) <= {201, 503}
    assert statuses[503] > 0
    for response in crowded:
        if response.status_code == 503:
            assert_clean_503(response)
    assert health.status_code == 200
    assert ready.status_code in (200, 503)  # the pool may still hold a connection: then the database answers
    assert serve.process.poll() is None
    assert [response.status_code for response in after] == [201] * 40
    assert count_rows(database) == statuses[201] + 40


def run_service(workdir: Path, **settings: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started_at = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "service"],
        cwd=workdir,
        env=service_environment(PORT=str(free_port()), **settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, time.monotonic() - started_at


def test_bad_credentials_at_start_up_exit_2_with_one_masked_line(
    drill_postgres: LocalPostgres, database: str, tmp_path: Path
) -> None:
    wrong = "not-the-Password-42"
    result, seconds = run_service(tmp_path, DATABASE_URL=database.replace(APP_PASSWORD, wrong))

    print(f"bad credentials: exit {result.returncode} after {seconds:.2f} s: {result.stderr.strip()}")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: DATABASE_URL: cannot connect to postgresql+psycopg://{APP_USER}:***@")
    assert f'password authentication failed for user "{APP_USER}"' in result.stderr
    assert wrong not in result.stderr
    assert APP_PASSWORD not in result.stderr


def test_an_unreachable_server_at_start_up_exits_2_within_the_connect_timeout(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{free_port()}/tasks"

    result, seconds = run_service(tmp_path, DATABASE_URL=url, DATABASE_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT))

    print(f"unreachable: exit {result.returncode} after {seconds:.2f} s: {result.stderr.strip()}")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: DATABASE_URL: cannot connect to postgresql+psycopg://{APP_USER}:***@")
    assert "Connection refused" in result.stderr
    assert APP_PASSWORD not in result.stderr
    assert seconds < HANG_BOUND


def create_many(base_url: str, writer: int) -> list[httpx.Response]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        return [
            client.post("/tasks", json={"title": f"writer {writer} task {n}", "description": "x" * 500})
            for n in range(CREATES_PER_WRITER)
        ]


def test_concurrent_writers_every_201_is_a_row_and_no_extra_rows(serve: LiveServer, database: str) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        batches = pool.map(create_many, [serve.base_url] * WRITERS, range(WRITERS))
        responses = [response for batch in batches for response in batch]

    statuses = Counter(response.status_code for response in responses)
    print(f"PostgreSQL, {WRITERS} writers x {CREATES_PER_WRITER} creates: {dict(statuses)}")
    assert set(statuses) <= {201, 503}
    created_ids = [response.json()["id"] for response in responses if response.status_code == 201]
    assert len(set(created_ids)) == len(created_ids)
    assert count_rows(database) == statuses[201]
    assert statuses[201] == WRITERS * CREATES_PER_WRITER  # a server database has no writer lock to time out on
