"""Faults while serving: the database directory vanishing, lock contention, concurrent patches of one task."""

from __future__ import annotations

import itertools
import sqlite3
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer
from tests.robustness.leaks import leaked

WRITERS = 8
CREATES_PER_WRITER = 200
PATCHERS = 8
PATCHES_PER_PATCHER = 60


def count_rows(database: Path) -> int:
    # closing(): `with connection` only ends a transaction; the connection stays open
    # (Python 3.13 warns about that, and warnings fail the suite).
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        count: int = connection.execute("SELECT count(*) FROM tasks").fetchone()[0]
    return count


def assert_clean_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.json() == {"detail": "Storage temporarily unavailable; retry later"}
    assert response.headers["retry-after"] == "1"
    assert not leaked(response.text)


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


def test_database_directory_moved_away_answers_503_then_recovers_without_restart(server: LiveServer) -> None:
    data, moved = server.database.parent, server.database.parent.with_name("moved-away")
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        before = [client.post("/tasks", json={"title": f"before {n}"}) for n in range(20)]
        data.rename(moved)
        try:
            during_writes = [client.post("/tasks", json={"title": f"during {n}"}) for n in range(20)]
            during_patch = client.patch(f"/tasks/{before[0].json()['id']}", json={"title": "lost"})
            during_read = client.get("/tasks")
            during_ready = client.get("/ready")
            during_health = client.get("/health")
        finally:
            moved.rename(data)
        after_writes = [client.post("/tasks", json={"title": f"after {n}"}) for n in range(20)]
        after_read = client.get("/tasks", params={"limit": 100})
        after_ready = client.get("/ready")

    assert [response.status_code for response in before] == [201] * 20
    for response in [*during_writes, during_patch, during_read]:
        assert_clean_503(response)
    assert during_ready.status_code == 503
    assert during_ready.json()["checks"]["database"].startswith("unavailable")
    assert during_health.status_code == 200
    assert [response.status_code for response in after_writes] == [201] * 20
    assert after_ready.status_code == 200
    titles = [task["title"] for task in after_read.json()["items"]]
    assert titles == [f"before {n}" for n in range(20)] + [f"after {n}" for n in range(20)]
    assert count_rows(server.database) == 40  # exactly the 201s: nothing half-written, nothing lost


def create_many(base_url: str, writer: int) -> list[httpx.Response]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        return [
            client.post("/tasks", json={"title": f"writer {writer} task {n}", "description": "x" * 500})
            for n in range(CREATES_PER_WRITER)
        ]


def test_concurrent_writers_all_succeed_or_get_a_retryable_503_and_rows_match_201s(server: LiveServer) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        batches = pool.map(create_many, [server.base_url] * WRITERS, range(WRITERS))
        responses = [response for batch in batches for response in batch]

    statuses = Counter(response.status_code for response in responses)
    print(f"{WRITERS} writers x {CREATES_PER_WRITER} creates: {dict(statuses)}")
    assert set(statuses) <= {201, 503}
    for response in responses:
        if response.status_code == 503:
            assert_clean_503(response)
    created_ids = [response.json()["id"] for response in responses if response.status_code == 201]
    assert len(set(created_ids)) == len(created_ids)
    assert count_rows(server.database) == statuses[201]
    with closing(sqlite3.connect(server.database)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


COMBOS = [
    {"title": f"combo {n}", "description": f"description {n}", "priority": priority}
    for n, priority in zip(range(PATCHERS), itertools.cycle(["low", "medium", "high"]), strict=False)
]


def patch_repeatedly(base_url: str, task_id: int, combo: dict[str, str]) -> list[dict[str, Any]]:
    """PATCH the combo again and again, reading the task in between; every state seen."""
    seen = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for _ in range(PATCHES_PER_PATCHER):
            patched = client.patch(f"/tasks/{task_id}", json=combo)
            assert patched.status_code == 200, patched.text
            seen.append(patched.json())
            seen.append(client.get(f"/tasks/{task_id}").json())
    return seen


def test_concurrent_patches_of_one_task_never_mix_two_requests(server: LiveServer) -> None:
    task_id = httpx.post(f"{server.base_url}/tasks", json={"title": "contended"}).json()["id"]

    with ThreadPoolExecutor(PATCHERS) as pool:
        histories = pool.map(patch_repeatedly, [server.base_url] * PATCHERS, [task_id] * PATCHERS, COMBOS)
        seen = [state for states in histories for state in states]

    observed = Counter((state["title"], state["description"], state["priority"]) for state in seen)
    sent = {(combo["title"], combo["description"], combo["priority"]) for combo in COMBOS}
    print(f"{PATCHERS} patchers x {PATCHES_PER_PATCHER}: {len(seen)} states observed, {len(observed)} distinct")
    assert set(observed) <= sent
    final = httpx.get(f"{server.base_url}/tasks/{task_id}").json()
    assert (final["title"], final["description"], final["priority"]) in sent
