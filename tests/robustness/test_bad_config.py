"""Bad configuration: every setting given a bad value stops the process with one line naming it.

Never half-working: nothing ever listens, no data directory is created, and the
process exits before it imports the web stack (read from the interpreter's own
sys.modules at exit), which is what keeps a bad setting cheap. How long that
takes is a benchmark figure (bench/bad_config.py), not an assertion here.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.live import LiveServer, free_port, service_environment

# A hang guard only: a process that answers neither way within it has hung.
HANG_SECONDS = 10
# Packages of the web stack: imported only once the settings are known good
# (service/cli.py). The storage check may load the database layer, nothing more.
WEB_STACK = ("fastapi", "starlette", "uvicorn", "service.main", "service.api", "service.middleware")
# `python -m service`, plus a record of every module the interpreter loaded, written at exit.
RECORDING_SERVICE = (
    "import atexit, json, os, runpy, sys\n"
    "def record():\n"
    "    with open(os.environ['IMPORTS_RECORD'], 'w') as record_file:\n"
    "        json.dump(sorted(sys.modules), record_file)\n"
    "atexit.register(record)\n"
    "runpy.run_module('service', run_name='__main__', alter_sys=True)\n"
)

# (variable, bad value, start of the one line). {tmp} is the test's directory.
BAD_VALUES = [
    ("PORT", "eighty", "error: invalid configuration: PORT: Input should be a valid integer"),
    ("PORT", "70000", "error: invalid configuration: PORT: Input should be less than or equal to 65535"),
    ("PORT", "-1", "error: invalid configuration: PORT: Input should be greater than or equal to 1"),
    ("HOST", "", "error: invalid configuration: HOST: String should have at least 1 character"),
    ("HOST", "192.0.2.1", "error: HOST: cannot listen on 192.0.2.1:"),  # TEST-NET: not an address of this machine
    ("LOG_LEVEL", "loud", "error: invalid configuration: LOG_LEVEL: Input should be"),
    ("LOG_FORMAT", "xml", "error: invalid configuration: LOG_FORMAT: Input should be 'json', 'console' or 'auto'"),
    ("WORKERS", "0", "error: invalid configuration: WORKERS: Input should be greater than or equal to 1"),
    ("WORKERS", "two", "error: invalid configuration: WORKERS: Input should be a valid integer"),
    ("THREADPOOL_SIZE", "0", "error: invalid configuration: THREADPOOL_SIZE: Input should be greater than or equal"),
    ("THREADPOOL_SIZE", "1e9", "error: invalid configuration: THREADPOOL_SIZE: Input should be a valid integer"),
    ("SHUTDOWN_TIMEOUT", "-5", "error: invalid configuration: SHUTDOWN_TIMEOUT: Input should be greater than or"),
    ("SHUTDOWN_TIMEOUT", "soon", "error: invalid configuration: SHUTDOWN_TIMEOUT: Input should be a valid integer"),
    ("MAX_BODY_BYTES", "10", "error: invalid configuration: MAX_BODY_BYTES: Input should be greater than or equal"),
    ("MAX_BODY_BYTES", "64KiB", "error: invalid configuration: MAX_BODY_BYTES: Input should be a valid integer"),
    ("DATABASE_URL", "mysql://db/tasks", "error: invalid configuration: DATABASE_URL: unsupported scheme 'mysql'"),
    ("DATABASE_URL", "postgresql+asyncpg://u:p@db/tasks", "error: invalid configuration: DATABASE_URL: unsupported"),
    ("DATABASE_URL", "not a url", "error: invalid configuration: DATABASE_URL: not a database URL"),
    ("DATABASE_URL", "sqlite://", "error: invalid configuration: DATABASE_URL: an in-memory SQLite database"),
    ("DATABASE_URL", "sqlite:///:memory:", "error: invalid configuration: DATABASE_URL: an in-memory SQLite database"),
    ("DATABASE_URL", "sqlite:///{tmp}/a-file/data/tasks.db", "error: DATABASE_URL: cannot create the database dir"),
    ("DATABASE_URL", "sqlite:////proc/no-such-process/data/tasks.db", "error: DATABASE_URL: cannot create the data"),
    ("DATABASE_URL", "sqlite:///{tmp}/a-directory", "error: DATABASE_URL: cannot open the database"),
    ("MODELS_DIR", "{tmp}/a-file", "error: MODELS_DIR: {tmp}/a-file is not a directory"),
]


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("a regular file")
    (tmp_path / "a-directory").mkdir()
    return tmp_path


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@dataclass
class Outcome:
    code: int
    stderr: str
    answered: bool  # /health answered while the process lived
    modules: list[str]  # sys.modules when the process exited

    @property
    def web_stack_imported(self) -> list[str]:
        return [name for name in self.modules if name.startswith(WEB_STACK)]


def run_until_exit(cwd: Path, environment: dict[str, str], port: int) -> Outcome:
    """Start the service and keep trying to reach it until it exits (HANG_SECONDS at most)."""
    record = cwd / "imports.json"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-c", RECORDING_SERVICE],
        cwd=cwd,
        env=environment | {"IMPORTS_RECORD": str(record)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    answered = False
    while process.poll() is None and time.monotonic() - started < HANG_SECONDS:
        try:
            answered |= httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.2).status_code == 200
        except httpx.TransportError:
            time.sleep(0.01)
    try:
        _, stderr = process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    modules = json.loads(record.read_text()) if record.exists() else []
    record.unlink(missing_ok=True)
    return Outcome(process.returncode, stderr.decode(), answered, modules)


@pytest.mark.parametrize(("variable", "value", "expected"), BAD_VALUES)
def test_bad_value_exits_2_with_one_line_before_importing_the_web_stack(
    scene: Path, variable: str, value: str, expected: str
) -> None:
    port = free_port()
    environment = service_environment(PORT=str(port)) | {variable: value.format(tmp=scene)}

    outcome = run_until_exit(scene, environment, port)

    assert outcome.code == 2
    assert outcome.stderr.splitlines() == [outcome.stderr.strip()], outcome.stderr
    assert outcome.stderr.startswith(expected.format(tmp=scene)), outcome.stderr
    assert variable in outcome.stderr
    assert "service.startup" in outcome.modules  # the record is real: it saw the service start
    assert outcome.web_stack_imported == []
    assert not outcome.answered
    assert not (scene / "data").exists()


def test_port_already_taken_exits_2_naming_port_before_creating_data(scene: Path, occupied_port: int) -> None:
    environment = service_environment(PORT=str(occupied_port))

    outcome = run_until_exit(scene, environment, occupied_port)

    assert outcome.code == 2
    assert outcome.stderr.startswith(f"error: PORT: cannot listen on 127.0.0.1:{occupied_port}: "), outcome.stderr
    assert outcome.web_stack_imported == []
    assert not (scene / "data").exists()


def test_the_import_record_sees_the_web_stack_of_a_server_that_started(scene: Path) -> None:
    """The check can fail: with good settings the same recording lists fastapi and uvicorn."""
    port = free_port()
    record = scene / "imports.json"
    environment = service_environment(PORT=str(port), DATABASE_URL=f"sqlite:///{scene}/data/tasks.db")
    process = subprocess.Popen(
        [sys.executable, "-c", RECORDING_SERVICE], cwd=scene, env=environment | {"IMPORTS_RECORD": str(record)}
    )
    answered = False
    try:
        deadline = time.monotonic() + 30  # hang guard
        while not answered and process.poll() is None and time.monotonic() < deadline:
            try:
                answered = httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200
            except httpx.TransportError:
                time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)

    outcome = Outcome(process.returncode, "", answered, modules=json.loads(record.read_text()))
    assert outcome.answered
    assert outcome.code == 0
    assert {"fastapi", "uvicorn", "service.main"} <= set(outcome.web_stack_imported)


def test_missing_models_directory_serves_with_ready_503_naming_it(start_server: Callable[..., LiveServer]) -> None:
    server = start_server(MODELS_DIR="/nonexistent/models")

    health = httpx.get(f"{server.base_url}/health")
    ready = httpx.get(f"{server.base_url}/ready")
    listing = httpx.get(f"{server.base_url}/models")
    created = httpx.post(f"{server.base_url}/tasks", json={"title": "still works"})

    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "schema": "ok", "models": "models directory does not exist"},
    }
    assert listing.status_code == 503
    assert listing.json() == {"detail": "models directory does not exist"}
    assert created.status_code == 201
