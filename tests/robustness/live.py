"""A real `python -m service` process on 127.0.0.1 for the drills, plus the raw HTTP the drills need."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.settings import Settings

SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_environment(**settings: str) -> dict[str, str]:
    """The caller's environment without any service setting, plus `settings` (JSON logs unless told)."""
    environment = {key: value for key, value in os.environ.items() if key.upper() not in SETTINGS_VARIABLES}
    return environment | {"LOG_FORMAT": "json"} | settings


class LiveServer:
    """`python -m service` in `workdir` with its data in workdir/data and models in workdir/models."""

    def __init__(self, workdir: Path, **settings: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.database = workdir / "data" / "tasks.db"
        defaults = {
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{self.database}",
            "MODELS_DIR": str(workdir / "models"),
            "LOG_LEVEL": "warning",  # the access log of thousands of drill requests is noise here
        }
        environment = service_environment(**(defaults | settings))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service"],
            cwd=workdir,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_until_healthy(self, timeout: float = 30.0) -> LiveServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.process.communicate()[0]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"server on {self.base_url} did not become healthy within {timeout} s")

    def answers_health(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def rss_kib(self) -> int:
        """Resident memory of the server process (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit code and everything the process printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            output, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            output, _ = self.process.communicate()
        return self.process.returncode, output


@dataclass
class RawExchange:
    status: int
    body: bytes
    bytes_sent: int  # of the request body, before the server answered or hung up


def exchange(port: int, head: bytes, body: Iterable[bytes], *, timeout: float = 30.0) -> RawExchange:
    """Send `head` then the `body` pieces as given, reading all the while; stop sending once the server answers.

    No normalisation of any kind (paths go out byte for byte), and a server that
    answers early (413) is seen answering early, before the client sent everything.
    """
    deadline = time.monotonic() + timeout
    received = b""
    sent = 0
    pieces = iter(body)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(head)
        connection.setblocking(False)
        pending = next(pieces, None)
        while time.monotonic() < deadline:
            writers = [connection] if pending is not None and not received else []
            readable, writable, _ = select.select([connection], writers, [], 0.5)
            if readable:
                try:
                    chunk = connection.recv(1 << 20)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                received += chunk
            elif writable and pending is not None:
                try:
                    written = connection.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    pending = None
                    continue
                sent += written
                pending = pending[written:] or next(pieces, None)
        else:
            raise TimeoutError(f"no complete answer within {timeout} s (sent {sent} bytes)")
    response_head, _, response_body = received.partition(b"\r\n\r\n")
    return RawExchange(status=int(response_head.split(b" ", 2)[1]), body=response_body, bytes_sent=sent)


def get_raw_path(port: int, path: bytes) -> RawExchange:
    return exchange(port, b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", [])


def send_body(port: int, path: str, body: bytes, content_type: str, *, method: str = "POST") -> tuple[int, bytes]:
    """`method path` with `body` and a Content-Length; an empty content_type sends no Content-Type header."""
    content_type_line = f"Content-Type: {content_type}\r\n" if content_type else ""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{content_type_line}"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    pieces = (body[offset : offset + 65536] for offset in range(0, len(body), 65536))
    answer = exchange(port, head.encode(), pieces)
    return answer.status, answer.body
