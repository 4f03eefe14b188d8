"""Server processes under test: start pinned to a core, wait for the first 200, read RSS, stop gracefully."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU = "0"  # the server's core; wrk runs on LOAD_CPU (bench/wrk.py)
READY_TIMEOUT = 30.0  # bound on the wait for the first 200
POLL = 0.010  # seconds between start-up probes
STOP_TIMEOUT = 15.0  # SIGTERM, then SIGKILL after this long
# The baselines run with the uvicorn settings `python -m service` gives itself (service/cli.py):
# uvloop, httptools, one worker, no uvicorn access log, no Server header.
UVICORN_SETTINGS = [
    "--loop", "uvloop", "--http", "httptools", "--workers", "1",
    "--no-access-log", "--no-server-header", "--log-level", "warning",
]  # fmt: skip
# granian with the same shape: one worker, uvloop, HTTP/1.1 only, no websockets, its access log off (default).
GRANIAN_SETTINGS = ["--interface", "asgi", "--workers", "1", "--loop", "uvloop", "--http", "1", "--no-ws"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_request(
    port: int, method: str, path: str, body: object | None = None, timeout: float = 5.0
) -> tuple[int, bytes]:
    """One request on a fresh connection to 127.0.0.1; (status, body), status 0 when nothing answered."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {} if body is None else {"Content-Type": "application/json"}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        connection.close()


def rss_kib(pid: int) -> int:
    """Resident set size of one process, KiB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                found.append(child)
                pending.append(child)
    return found


@dataclass
class Server:
    """One server process: `argv` run under `taskset -c SERVER_CPU` with `env`, stdout to `log`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int
    ready_path: str = "/health"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    startup_seconds: float = 0.0

    def start(self) -> float:
        """Start the process; seconds from spawning it to the first 200 on `ready_path`."""
        with self.log.open("ab") as log:
            started = time.perf_counter()
            self.process = subprocess.Popen(
                ["taskset", "-c", SERVER_CPU, *self.argv],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches granian's workers too
            )
        deadline = started + READY_TIMEOUT
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.process.returncode}) before serving; see {self.log}")
            if http_request(self.port, "GET", self.ready_path, timeout=1)[0] == 200:
                self.startup_seconds = time.perf_counter() - started
                return self.startup_seconds
            time.sleep(POLL)
        self.stop()
        raise SystemExit(f"{self.name} gave no 200 on {self.ready_path} within {READY_TIMEOUT:.0f} s; see {self.log}")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self.process.pid

    def rss_kib(self) -> int:
        """RSS of the server and every process under it (granian serves from a worker process)."""
        return sum(rss_kib(pid) for pid in [self.pid, *descendants(self.pid)])

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait up to `timeout`, then SIGKILL the group. The exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                return None
        return process.returncode
