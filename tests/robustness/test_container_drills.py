"""Drills on the production image: bounded load and memory, SIGTERM under load, a full disk, a read-only root."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.container.engine import Container, Docker
from tests.robustness.leaks import leaked
from tests.robustness.load import LoadResult, run_load

pytestmark = pytest.mark.container

LOAD_REQUESTS = 3000
CONCURRENCY = 50
MEMORY_BOUND_KIB = 10 * 1024  # VmRSS after the load may exceed VmRSS before it by at most this
SIGTERM_AFTER_SECONDS = 1.5
# Hang guard for the drain. The drain runs with SHUTDOWN_TIMEOUT raised to it, so
# that a loaded machine hashing slowly never turns the drill into a race against
# the default 8 s: how long it takes is printed, not asserted.
DRAIN_GUARD_SECONDS = 120
COUNT_ROWS = (
    "import sqlite3; print(sqlite3.connect('/data/tasks.db').execute('SELECT count(*) FROM tasks').fetchone()[0])"
)


@pytest.fixture(scope="module")
def production(image: Callable[[str], str]) -> str:
    return image("production")


def vm_rss_kib(container: Container) -> int:
    return int(container.process_status()["VmRSS"].split()[0])


def stored_ids(base_url: str) -> set[int]:
    ids: set[int] = set()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while True:
            page = client.get("/tasks", params={"limit": 100, "offset": len(ids)}).json()
            ids |= {task["id"] for task in page["items"]}
            if not page["items"]:
                return ids


def test_bounded_load_has_no_errors_and_memory_stays_within_bound(docker: Docker, production: str) -> None:
    container = docker.start(production, "-v", f"{docker.volume()}:/data")
    base_url = container.wait_for_http()
    warm_up = run_load(base_url, total=500, concurrency=CONCURRENCY)
    rss_before = vm_rss_kib(container)

    result = run_load(base_url, total=LOAD_REQUESTS, concurrency=CONCURRENCY)

    rss_after = vm_rss_kib(container)
    print(
        f"load: {result.requests} requests at {CONCURRENCY} connections in {result.seconds:.1f} s "
        f"({result.requests / result.seconds:.0f} req/s), statuses {dict(result.statuses)}, "
        f"errors {dict(result.errors)}; "
        f"VmRSS {rss_before} -> {rss_after} KiB ({rss_after - rss_before:+d})"
    )
    assert warm_up.errors == {}
    assert result.requests == LOAD_REQUESTS
    assert result.errors == {}
    assert set(result.statuses) <= {200, 201}
    assert rss_after - rss_before <= MEMORY_BOUND_KIB


@pytest.fixture
def big_model(tmp_path: Path) -> Path:
    """A models directory with a 1 GiB sparse file: hashing it keeps a request in flight for a while."""
    models = tmp_path / "models"
    models.mkdir()
    with (models / "big.bin").open("wb") as stream:
        stream.truncate(1024**3)
    models.chmod(0o755)
    return models


def test_sigterm_under_load_drains_exits_0_and_keeps_every_acknowledged_task(
    docker: Docker, production: str, big_model: Path
) -> None:
    container = docker.start(
        production,
        *("-e", f"SHUTDOWN_TIMEOUT={DRAIN_GUARD_SECONDS}"),
        *("-v", f"{docker.volume()}:/data", "-v", f"{big_model}:/models:ro"),
    )
    base_url = container.wait_for_http()
    load_result: list[LoadResult] = []
    load = threading.Thread(
        target=lambda: load_result.append(
            run_load(base_url, total=20_000, concurrency=CONCURRENCY, creates_only=True, stop_on_error=True)
        ),
    )
    slow: list[httpx.Response | Exception] = []

    def hash_big_model() -> None:
        try:
            slow.append(httpx.get(f"{base_url}/models/big.bin", timeout=DRAIN_GUARD_SECONDS))
        except httpx.TransportError as exc:
            slow.append(exc)

    slow_requests = [threading.Thread(target=hash_big_model) for _ in range(2)]
    load.start()
    time.sleep(SIGTERM_AFTER_SECONDS)
    for thread in slow_requests:
        thread.start()
    time.sleep(0.3)  # the hashing requests are accepted and in flight
    docker.run_cli("kill", "--signal", "TERM", container.id)
    signalled = time.monotonic()
    time.sleep(0.5)
    try:
        late = httpx.get(f"{base_url}/health", timeout=5)
        late_outcome = f"answered {late.status_code}"
    except httpx.TransportError as exc:
        late_outcome = type(exc).__name__
    exit_code = docker.run_cli("wait", container.id, timeout=DRAIN_GUARD_SECONDS + 20).stdout.strip()
    stopped_after = time.monotonic() - signalled
    load.join(timeout=DRAIN_GUARD_SECONDS)
    for thread in slow_requests:
        thread.join(timeout=DRAIN_GUARD_SECONDS)
    result = load_result[0]
    acknowledged = set(result.created_ids)

    docker.run_cli("start", container.id)
    stored = stored_ids(container.wait_for_http())

    print(
        f"sigterm: {len(acknowledged)} creates acknowledged, statuses {dict(result.statuses)}, errors "
        f"{dict(result.errors)} (first {result.first_error_at - signalled if result.first_error_at else 0:+.2f} s "
        f"after SIGTERM); new connection 0.5 s after SIGTERM: {late_outcome}; "
        f"exit {exit_code} after {stopped_after:.2f} s; stored after restart {len(stored)}; "
        f"in-flight hashes: {[getattr(outcome, 'status_code', repr(outcome)) for outcome in slow]}"
    )
    assert exit_code == "0"  # drained and exited by itself
    assert set(result.statuses) == {201}
    assert result.requests < 20_000  # the stop, not the request budget, ended the load
    assert result.first_error_at is not None
    assert result.first_error_at >= signalled  # no request failed before the stop
    assert acknowledged <= stored
    assert late_outcome != "answered 200"
    assert [getattr(outcome, "status_code", None) for outcome in slow] == [200, 200]


def test_full_disk_answers_503_keeps_reads_and_recovers_once_space_is_freed(docker: Docker, production: str) -> None:
    # 2 MiB of /data, owned by the image's user (this engine ignores a tmpfs mode).
    container = docker.start(production, "--tmpfs", "/data:size=2m,uid=10001,gid=10001")
    base_url = container.wait_for_http()
    created = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for number in range(20):
            created += client.post("/tasks", json={"title": f"before {number}"}).status_code == 201
        fill = container.python(
            "f = open('/data/filler', 'wb')\n"
            "try:\n"
            "    while True:\n"
            "        f.write(b'x' * 65536); f.flush()\n"
            "except OSError as e:\n"
            "    print(e.errno)\n"
        )
        during = [client.post("/tasks", json={"title": f"full {n}", "description": "d" * 2000}) for n in range(40)]
        created += sum(response.status_code == 201 for response in during)
        read_while_full = client.get("/tasks", params={"limit": 5})
        health_while_full = client.get("/health")
        container.python("import os; os.remove('/data/filler')")
        after = [client.post("/tasks", json={"title": f"after {number}"}) for number in range(10)]
        created += sum(response.status_code == 201 for response in after)
    rows = int(container.python(COUNT_ROWS).stdout)

    full = [response for response in during if response.status_code == 503]
    print(f"disk full: {len(full)} of {len(during)} writes answered 503; {created} 201s in all, {rows} rows stored")
    assert fill.stdout.strip() == "28"  # ENOSPC
    assert full, [response.status_code for response in during]
    assert {response.status_code for response in during} <= {201, 503}
    for response in full:
        assert response.json() == {"detail": "Storage temporarily unavailable; retry later"}
        assert response.headers["retry-after"] == "1"
        assert not leaked(response.text)
    assert read_while_full.status_code == 200
    assert health_while_full.status_code == 200
    assert [response.status_code for response in after] == [201] * 10
    assert rows == created


def test_read_only_root_without_a_data_volume_stops_with_one_line(docker: Docker, production: str) -> None:
    container = docker.start(production, "--read-only", "-e", "DATABASE_URL=sqlite:////var/lib/tasks/tasks.db")

    exit_code = docker.run_cli("wait", container.id, timeout=60).stdout.strip()

    lines = container.logs().strip().splitlines()
    assert exit_code == "2"
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: DATABASE_URL: cannot create the database directory: [Errno 30] Read-only")
