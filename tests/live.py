"""The service as a real process on 127.0.0.1 (a free port from the OS), for tests that need the real thing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from service.settings import SECRETS_DIR_VARIABLE, Settings

SETTINGS_VARIABLES = {name.upper() for name in Settings.model_fields} | {SECRETS_DIR_VARIABLE}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def service_environment(**settings: str) -> dict[str, str]:
    """The environment minus service settings and OTEL_*/PROMETHEUS_* variables, plus `settings` (JSON logs default)."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key.upper() not in SETTINGS_VARIABLES and not key.upper().startswith(("OTEL_", "PROMETHEUS_"))
    }
    return environment | {"LOG_FORMAT": "json"} | settings


SERVICE_COMMAND = (sys.executable, "-m", "service")


class LiveServer:
    """The service as a real process (`python -m service` unless told) in `workdir`.

    Its data goes to workdir/data and its models come from workdir/models;
    `{port}` in the command is replaced by the port it must listen on.
    """

    def __init__(self, workdir: Path, *, command: Sequence[str] = SERVICE_COMMAND, **settings: str) -> None:
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
        # To a file, not a pipe: nobody reads a pipe while a drill runs, and once
        # its 64 KiB are full the server's next log line blocks its event loop,
        # so a drill that logs a line per 503 would hang the server it measures.
        self.log_file = workdir / f"server-{self.port}.log"
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                [part.format(port=self.port) for part in command],
                cwd=workdir,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_healthy(self, timeout: float = 30.0) -> LiveServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.output()}")
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
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode, self.output()

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr, interleaved)."""
        return self.log_file.read_text()
