"""The real process: every entry point serves HTTP on 127.0.0.1, logs JSON lines and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    def __init__(self, entry_point: str, cwd: Path) -> None:
        self.entry_point = entry_point
        command = ENTRY_POINTS[entry_point]
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        environment = {key: value for key, value in os.environ.items() if key not in {"HOST", "PORT"}}
        environment |= {"PORT": str(self.port), "LOG_FORMAT": "json", "MODELS_DIR": str(cwd / "models")}
        self.process = subprocess.Popen(
            [part.format(port=self.port) for part in command],
            cwd=cwd,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_until_healthy(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"server exited early:\n{self.process.communicate()[0]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        pytest.fail("server did not become healthy")

    def stop(self) -> tuple[int, list[str]]:
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=15)
        return self.process.returncode, output.splitlines()


@pytest.fixture(params=list(ENTRY_POINTS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    (tmp_path / "models").mkdir()
    running = Server(request.param, tmp_path)
    try:
        running.wait_until_healthy()
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.communicate()


def test_serves_the_api_logs_json_and_exits_0_on_sigterm(server: Server, tmp_path: Path) -> None:
    created = httpx.post(f"{server.base_url}/tasks", json={"title": "live"}, headers={"X-Request-ID": "live-1"})
    fetched = httpx.get(f"{server.base_url}{created.headers['location']}")
    missing = httpx.get(f"{server.base_url}/tasks/999")

    returncode, lines = server.stop()

    assert created.status_code == 201
    assert fetched.json() == created.json()
    assert missing.status_code == 404
    assert "server" not in created.headers
    assert returncode == EXPECTED_EXIT_CODE[server.entry_point]
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
