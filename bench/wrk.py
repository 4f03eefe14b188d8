"""wrk, pinned to the load core: one run, parsed from the JSON line bench/lua/bench.lua prints."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LOAD_CPU = "1"  # wrk's core; the server has SERVER_CPU (bench/servers.py)
SCRIPT = Path(__file__).resolve().parent / "lua" / "bench.lua"
REQUEST_TIMEOUT = "2s"  # wrk's default, explicit: a slower request counts as a timeout error
MARKER = "BENCH_JSON "


@dataclass(frozen=True)
class Endpoint:
    label: str  # as shown in the report, e.g. "GET /tasks/{id}"
    method: str
    path: str  # "{id}" becomes a random seeded id per request
    body: str | None = None
    authorization: str | None = None  # an Authorization header on every request


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int  # connect + read + write
    non_2xx: int  # wrk counts statuses above 399
    timeouts: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx + self.timeouts


def ensure_wrk() -> None:
    """Install wrk from Debian's packages when it is missing (the machine is root; apt-get update only if needed)."""
    if shutil.which("wrk"):
        return
    print("wrk not found: apt-get install -y wrk", file=sys.stderr)
    install = ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=True)
        subprocess.run(install, capture_output=True, check=True)


def wrk_version() -> str:
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def _command(
    base_url: str, endpoint: Endpoint, *, connections: int, seconds: float, latency: bool, stop_at: int, mix: bool
) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "BENCH_METHOD": endpoint.method,
        "BENCH_PATH": endpoint.path,
        "BENCH_ID_MAX": os.environ.get("BENCH_ID_MAX", "1000"),
        "BENCH_STOP_AT": str(stop_at),
        "BENCH_MIX": "1" if mix else "0",
    }
    if endpoint.body is not None:
        env["BENCH_BODY"] = endpoint.body
    else:
        env.pop("BENCH_BODY", None)
    if endpoint.authorization is not None:
        env["BENCH_AUTHORIZATION"] = endpoint.authorization
    else:
        env.pop("BENCH_AUTHORIZATION", None)
    command = [
        "taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
        "--timeout", REQUEST_TIMEOUT, "-s", str(SCRIPT),
        *(["--latency"] if latency else []),
        base_url,
    ]  # fmt: skip
    return command, env


def parse(output: str) -> Result:
    for line in output.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line.removeprefix(MARKER))
            return Result(
                requests=int(data["requests"]),
                seconds=int(data["duration_us"]) / 1e6,
                p50_ms=int(data["p50_us"]) / 1000,
                p90_ms=int(data["p90_us"]) / 1000,
                p99_ms=int(data["p99_us"]) / 1000,
                max_ms=int(data["max_us"]) / 1000,
                socket_errors=int(data["connect"]) + int(data["read"]) + int(data["write"]),
                non_2xx=int(data["status"]),
                timeouts=int(data["timeout"]),
            )
    raise SystemExit(f"wrk printed no result line:\n{output[-2000:]}")


def run(
    base_url: str,
    endpoint: Endpoint,
    *,
    connections: int,
    seconds: float,
    latency: bool = False,
    stop_at: int = 0,
    mix: bool = False,
) -> Result:
    command, env = _command(
        base_url, endpoint, connections=connections, seconds=seconds, latency=latency, stop_at=stop_at, mix=mix
    )
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return parse(result.stdout)


class Background:
    """A wrk run in the background (the load while another wrk measures); `result()` waits for it."""

    def __init__(
        self,
        base_url: str,
        endpoint: Endpoint,
        *,
        connections: int,
        seconds: float,
        stop_at: int = 0,
        mix: bool = False,
    ) -> None:
        command, env = _command(
            base_url, endpoint, connections=connections, seconds=seconds, latency=False, stop_at=stop_at, mix=mix
        )
        self.seconds = seconds
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def result(self) -> Result:
        try:
            stdout, stderr = self.process.communicate(timeout=self.seconds + 60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise SystemExit("background wrk did not finish in time") from None
        if self.process.returncode != 0:
            raise SystemExit(f"wrk failed ({self.process.returncode}): {stderr.strip()[-2000:]}")
        return parse(stdout)

    def stop(self) -> None:
        """End it early, result unread (wrk's own stop() ends the requests but not its -d wait)."""
        if self.process.poll() is None:
            self.process.terminate()
        self.process.communicate(timeout=30)
