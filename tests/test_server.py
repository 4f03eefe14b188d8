"""The real process: every entry point serves HTTP on 127.0.0.1, logs JSON lines and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer

BIN = Path(sys.executable).parent
# Our entry points turn a graceful SIGTERM shutdown into exit 0 and drop the
# Server header; plain uvicorn re-raises SIGTERM (exit -15) unless told otherwise.
ENTRY_POINTS = {
    "console-script": [str(BIN / "service")],
    "python-m": [sys.executable, "-m", "service"],
    "uvicorn": [
        *(sys.executable, "-m", "uvicorn", "service.main:app"),
        *("--host", "127.0.0.1", "--port", "{port}", "--no-server-header", "--no-access-log"),
    ],
}
EXPECTED_EXIT_CODE = {"console-script": 0, "python-m": 0, "uvicorn": -signal.SIGTERM}


@pytest.fixture(params=list(ENTRY_POINTS))
def entry_point(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def server(entry_point: str, tmp_path: Path) -> Iterator[LiveServer]:
    (tmp_path / "models").mkdir()
    running = LiveServer(tmp_path, command=ENTRY_POINTS[entry_point], LOG_LEVEL="info")
    try:
        yield running.wait_until_healthy()
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


def test_serves_the_api_logs_json_and_exits_0_on_sigterm(server: LiveServer, entry_point: str, tmp_path: Path) -> None:
    created = httpx.post(f"{server.base_url}/tasks", json={"title": "live"}, headers={"X-Request-ID": "live-1"})
    fetched = httpx.get(f"{server.base_url}{created.headers['location']}")
    missing = httpx.get(f"{server.base_url}/tasks/999")

    returncode, output = server.stop()
    lines = output.splitlines()

    assert created.status_code == 201
    assert fetched.json() == created.json()
    assert missing.status_code == 404
    assert "server" not in created.headers
    assert returncode == EXPECTED_EXIT_CODE[entry_point]
    assert (tmp_path / "data" / "tasks.db").is_file()
    events: list[dict[str, Any]] = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [event for event in events if event["event"] == "request" and event["path"].startswith("/tasks")]
    assert [(event["method"], event["path"], event["status"]) for event in access] == [
        ("POST", "/tasks", 201),
        ("GET", f"/tasks/{created.json()['id']}", 200),
        ("GET", "/tasks/999", 404),
    ]
    assert access[0]["request_id"] == "live-1"
    assert all(isinstance(event["duration_ms"], float | int) and event["request_id"] for event in access)
    assert not [event for event in events if event.get("logger") == "uvicorn.access"]
    assert any(event["event"] == "startup_complete" for event in events)
    assert any(event["event"] == "shutdown_complete" for event in events)


PIPE_CAPACITY = 64 * 1024  # Linux's default pipe buffer


def test_a_server_that_logs_more_than_a_pipe_holds_keeps_answering(tmp_path: Path) -> None:
    # The drills read a server's output only when it stops; had it gone to a
    # pipe, the first 64 KiB of log lines would block the server's event loop
    # (it did: a restart drill's 503s, one error line each, stalled /health).
    (tmp_path / "models").mkdir()
    server = LiveServer(tmp_path, LOG_LEVEL="info").wait_until_healthy()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            statuses = {client.get("/health").status_code for _ in range(800)}
    finally:
        _, output = server.stop()

    assert statuses == {200}
    assert len(output.encode()) > PIPE_CAPACITY
    events = [json.loads(line) for line in output.splitlines()]
    assert sum(event["event"] == "request" and event["path"] == "/health" for event in events) >= 800
