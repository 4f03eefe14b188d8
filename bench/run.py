"""The benchmark suite: one command measures everything and writes docs/performance.md.

    uv run python -m bench            # full run, about 10 minutes
    uv run python -m bench --quick    # smoke run, about 2 minutes (fewer, shorter runs)
    uv run python -m bench --no-docker --output /tmp/performance.md

See bench/README.md for what is measured and how. Servers run on core 0, wrk on
core 1 (taskset); all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from bench import bad_config, containers, edge, granian_env, observability, postgres, report, wrk
from bench.servers import GRANIAN_SETTINGS, UVICORN_SETTINGS, Server, free_port, http_request

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SEED_TASKS = 1000
POST_BODY = '{"title": "benchmark task", "description": "written by wrk", "priority": "high", "due_date": "2030-01-31"}'
HEALTH = wrk.Endpoint("GET /health", "GET", "/health")
GET_TASK = wrk.Endpoint("GET /tasks/{id}", "GET", "/tasks/{id}")
LIST_TASKS = wrk.Endpoint("GET /tasks?limit=20", "GET", "/tasks?limit=20")
POST_TASK = wrk.Endpoint("POST /tasks", "POST", "/tasks", POST_BODY)
HELLO = wrk.Endpoint("GET / (hello-world)", "GET", "/")
SLOW_MODEL = "sparse-1GiB.bin"  # hashed while SIGTERM arrives: the graceful-shutdown check
SLOW_MODEL_BYTES = 1024**3
MEMORY_TIMEOUT = 120.0  # bound on the memory run's requests


@dataclass(frozen=True)
class Plan:
    warmup: float
    runs: int
    seconds: float
    loaded_seconds: float
    concurrency_seconds: float
    startup_runs: int
    container_runs: int
    memory_requests: int


FULL = Plan(
    warmup=5,
    runs=3,
    seconds=8,
    loaded_seconds=10,
    concurrency_seconds=10,
    startup_runs=10,
    container_runs=10,
    memory_requests=10_000,
)
QUICK = Plan(
    warmup=2, runs=3, seconds=2, loaded_seconds=4, concurrency_seconds=3, startup_runs=3, container_runs=3,
    memory_requests=10_000,
)  # fmt: skip


@dataclass
class Results:
    """Everything measured, keyed by (server, endpoint label); report.py renders it."""

    plan: Plan
    seeded: int = SEED_TASKS
    throughput: dict[tuple[str, str], list[wrk.Result]] = field(default_factory=dict)
    health_idle: dict[str, wrk.Result] = field(default_factory=dict)
    health_loaded: dict[str, tuple[wrk.Result, wrk.Result]] = field(default_factory=dict)  # (health, POST load)
    concurrency: dict[tuple[str, str, int], wrk.Result] = field(default_factory=dict)
    startup_local: dict[str, list[float]] = field(default_factory=dict)
    bad_config: list[bad_config.ExitTimes] = field(default_factory=list)  # time to exit 2 on a bad setting
    memory: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # idle, after N requests (KiB), N
    rss_end: dict[str, tuple[int, int]] = field(default_factory=dict)  # (KiB at the end, requests served)
    shutdown: dict[str, report.ShutdownCheck] = field(default_factory=dict)
    access_log: dict[str, report.LogCheck] = field(default_factory=dict)
    images: list[containers.ImageSize] = field(default_factory=list)
    images_build_seconds: float = 0.0
    container_startup: list[containers.StartupStats] = field(default_factory=list)
    builds: containers.BuildTimes | None = None
    granian_size: tuple[int, int] = (0, 0)
    otlp_received: dict[str, tuple[int, int]] = field(default_factory=dict)  # tracing variant: (exports, bytes)
    tutorial_after_64: int = 0  # status of one GET right after the 64-connection run (0: no answer in 3 s)
    postgres: postgres.Figures | None = None  # the PostgreSQL phase (bench/postgres.py); None: not run
    machine: dict[str, str] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    edge_verify_us: dict[str, float] = field(default_factory=dict)  # bench/edge.py: one uncached verification


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Phase:
    """Times a named phase into results.phases."""

    def __init__(self, results: Results, name: str) -> None:
        self.results, self.name = results, name

    def __enter__(self) -> None:
        self.started = time.monotonic()
        log(f"== {self.name}")

    def __exit__(self, *_exc: object) -> None:
        self.results.phases[self.name] = time.monotonic() - self.started


# --------------------------------------------------------------------------- servers


@dataclass
class Workdir:
    root: Path

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.root / 'tasks.db'}"

    @property
    def models(self) -> Path:
        return self.root / "models"


def service_env(work: Workdir, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRANIAN_", "BENCH_"))}
    return env | {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
        "DATABASE_URL": work.database_url,
        "MODELS_DIR": str(work.models),
        # As in the production image: every log line is written at once, as a user's container pays for it.
        "PYTHONUNBUFFERED": "1",
    }


def make_service(work: Workdir, name: str = "service") -> Server:
    port = free_port()
    return Server(name, [PYTHON, "-m", "service"], service_env(work, port), work.root / f"{name}.log", port)


def make_granian(work: Workdir, bin_dir: Path, name: str = "granian") -> Server:
    port = free_port()
    argv = [str(bin_dir / "granian"), *GRANIAN_SETTINGS, "--host", "127.0.0.1", "--port", str(port)]
    return Server(name, [*argv, "service.main:app"], service_env(work, port), work.root / f"{name}.log", port)


def make_baseline(work: Workdir, module: str, ready_path: str) -> Server:
    port = free_port()
    argv = [PYTHON, "-m", "uvicorn", f"bench.baselines.{module}:app", "--host", "127.0.0.1", "--port", str(port)]
    env = service_env(work, port)
    return Server(module, [*argv, *UVICORN_SETTINGS], env, work.root / f"{module}.log", port, ready_path=ready_path)


def seed(server: Server, count: int) -> None:
    for index in range(count):
        body = {"title": f"seeded task {index}", "priority": ("low", "medium", "high")[index % 3]}
        status, _ = http_request(server.port, "POST", "/tasks", body)
        if status != 201:
            raise SystemExit(f"seeding failed at task {index}: status {status}")


# --------------------------------------------------------------------------- HTTP phases


Job = tuple[Server, wrk.Endpoint]


def interleaved(results: Results, jobs: list[Job]) -> None:
    """A warm-up per job, then `runs` rounds over all jobs in turn, so noise spreads over every job."""
    plan = results.plan
    for server, endpoint in jobs:
        wrk.run(server.url(), endpoint, connections=32, seconds=plan.warmup)
    for round_number in range(1, plan.runs + 1):
        for server, endpoint in jobs:
            result = wrk.run(server.url(), endpoint, connections=32, seconds=plan.seconds)
            results.throughput.setdefault((server.name, endpoint.label), []).append(result)
            log(
                f"round {round_number}/{plan.runs} {server.name:8} {endpoint.label:20} {result.rps:8.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms p99 {result.p99_ms:7.2f} ms errors {result.errors}"
            )


def loaded_health(results: Results, server: Server) -> None:
    """GET /health at one connection, idle and then while POST /tasks runs at 32 connections."""
    seconds = results.plan.loaded_seconds
    results.health_idle[server.name] = wrk.run(server.url(), HEALTH, connections=1, seconds=3, latency=True)
    load = wrk.Background(server.url(), POST_TASK, connections=32, seconds=seconds)
    time.sleep(1)  # the load is up before the probe starts, and outlasts it
    health = wrk.run(server.url(), HEALTH, connections=1, seconds=seconds - 2, latency=True)
    post = load.result()
    results.health_loaded[server.name] = (health, post)
    log(f"{server.name}: /health under POST load p50 {health.p50_ms:.2f} ms p99 {health.p99_ms:.2f} ms")


def concurrency(results: Results, server: Server, endpoint: wrk.Endpoint, connections: int) -> None:
    result = wrk.run(server.url(), endpoint, connections=connections, seconds=results.plan.concurrency_seconds)
    results.concurrency[(server.name, endpoint.label, connections)] = result
    log(
        f"{server.name:8} {endpoint.label:16} c={connections:3} {result.rps:7.0f} req/s errors {result.errors} "
        f"(non-2xx {result.non_2xx}, socket {result.socket_errors}, timeouts {result.timeouts}) "
        f"max {result.max_ms:.0f} ms"
    )


def requests_served(log_file: Path) -> int:
    """Access events in a service log (one JSON line per request)."""
    with log_file.open("rb") as lines:
        return sum(1 for line in lines if b'"event": "request"' in line)


def check_access_log(log_file: Path) -> report.LogCheck:
    access = other_json = plain = 0
    with log_file.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                plain += 1
                continue
            if isinstance(event, dict) and event.get("event") == "request":
                access += 1
            else:
                other_json += 1
    return report.LogCheck(access_events=access, other_json=other_json, plain_lines=plain)


def prepare_slow_model(path: Path) -> None:
    """A sparse file (holes: no disk used), read once so every server hashes it from the page cache alike."""
    with path.open("wb") as sparse:
        sparse.truncate(SLOW_MODEL_BYTES)
    with path.open("rb") as warm:
        while warm.read(1024 * 1024):
            pass


def stop_during_slow_request(server: Server) -> report.ShutdownCheck:
    """SIGTERM while GET /models/<1 GiB sparse file> is hashing: does the request finish, and the exit code?"""
    outcome: dict[str, object] = {}

    def slow_request() -> None:
        started = time.perf_counter()
        status, body = http_request(server.port, "GET", f"/models/{SLOW_MODEL}", timeout=60)
        outcome.update(status=status, sha256=b'"sha256"' in body, seconds=time.perf_counter() - started)

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.2)  # the request is in flight (hashing takes about a second)
    signalled = time.perf_counter()
    exit_code = server.stop(timeout=20)
    stopped = time.perf_counter() - signalled
    thread.join(timeout=60)
    return report.ShutdownCheck(
        in_flight_status=int(str(outcome.get("status", 0))),
        body_complete=bool(outcome.get("sha256")),
        exit_code=exit_code,
        stop_seconds=stopped,
    )


# --------------------------------------------------------------------------- process-level phases


def startup_local(results: Results, makers: dict[str, Callable[[], Server]]) -> None:
    """Process start to the first 200 on /health, interleaved between servers, median of `startup_runs`."""
    for _ in range(results.plan.startup_runs):
        for name, make in makers.items():
            server = make()
            seconds = server.start()
            server.stop()
            results.startup_local.setdefault(name, []).append(seconds)
    for name, values in results.startup_local.items():
        log(f"{name}: start to first 200 median {statistics.median(values):.2f} s")


def memory(results: Results, name: str, server: Server) -> None:
    """RSS idle (1 s after the first 200) and after `memory_requests` requests over the four routes."""
    server.start()
    time.sleep(1)
    idle = server.rss_kib()
    count = results.plan.memory_requests
    before = requests_served(server.log)
    load = wrk.Background(server.url(), HEALTH, connections=8, seconds=MEMORY_TIMEOUT, stop_at=count, mix=True)
    deadline = time.monotonic() + MEMORY_TIMEOUT
    # Each request leaves one access event: poll the log until `count` were served (wrk's stop() halts the
    # requests, but wrk itself would still wait out -d).
    while requests_served(server.log) - before < count and time.monotonic() < deadline:
        time.sleep(0.2)
    load.stop()
    time.sleep(0.5)
    after = server.rss_kib()
    served = requests_served(server.log) - before
    server.stop()
    results.memory[name] = (idle, after, served)
    log(f"{name}: RSS idle {idle / 1024:.1f} MiB, after {served} requests {after / 1024:.1f} MiB")


def code_revision() -> str:
    """The commit measured, and whether service/ had uncommitted changes (others work in this tree)."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "service", "pyproject.toml", "uv.lock")
    return f"{head}" + (" + uncommitted changes in service/ or the lock" if dirty else "")


def busy_cores(seconds: float = 2.0) -> float:
    """Cores' worth of CPU busy over `seconds` before the benchmark starts (other processes: noise)."""

    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]
        return sum(fields) - idle, sum(fields)

    busy_before, total_before = sample()
    time.sleep(seconds)
    busy_after, total_after = sample()
    cores = len(os.sched_getaffinity(0))
    return (busy_after - busy_before) / max(1, total_after - total_before) * cores


def machine(bin_dir: Path | None, docker_version: str | None) -> dict[str, str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    packages = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "pydantic", "sqlalchemy", "sqlmodel"]
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in packages)
    info = {
        "code": code_revision(),
        "cpu": f"{cpu}, {os.cpu_count()} cores (`nproc`: {len(os.sched_getaffinity(0))})",
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"CPython {platform.python_version()} ({sys.base_prefix})",
        "packages": versions,
        "wrk": wrk.wrk_version(),
        "load before the run": f"{busy_cores():.2f} cores busy (2 s sample), load average "
        + " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    if bin_dir is not None:
        info["granian"] = f"granian {granian_env.version(bin_dir, 'granian')} (throwaway venv {granian_env.VENV})"
    if docker_version:
        info["docker"] = f"Docker Engine {docker_version}"
    return info


# --------------------------------------------------------------------------- main


def preflight(*, docker: bool) -> str | None:
    """Check the tools (installing wrk if needed); the Docker engine's version, if Docker is wanted."""
    if shutil.which("taskset") is None:
        raise SystemExit("taskset not found (util-linux)")
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 cores: the server runs on core 0, wrk on core 1")
    wrk.ensure_wrk()
    if not docker:
        return None
    if not containers.docker_available():
        raise SystemExit(
            "no Docker engine answers. Start one and export DOCKER with\n"
            f"    {containers.ENSURE_DOCKER}\nor run with --no-docker."
        )
    return containers.engine_version()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run: shorter runs (about 2 minutes)")
    parser.add_argument("--no-docker", action="store_true", help="skip the container figures")
    parser.add_argument("--no-granian", action="store_true", help="skip the granian comparison")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL rows")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md", help="Markdown report")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    started_at = dt.datetime.now(dt.UTC)

    docker_version = preflight(docker=not args.no_docker)

    results = Results(plan=plan)
    bin_dir = None
    if not args.no_granian:
        with Phase(results, "granian venv"):
            bin_dir = granian_env.ensure()
            results.granian_size = granian_env.installed_size(bin_dir, "granian")
    results.machine = machine(bin_dir, docker_version)

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Workdir(Path(tmp))
        work.models.mkdir()
        prepare_slow_model(work.models / SLOW_MODEL)
        run_local(results, work, bin_dir, postgres_rows=not args.no_postgres)

    if not args.no_docker:
        run_docker(results)

    elapsed = time.monotonic() - started
    results.machine["load average after the run"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    command = "uv run python -m bench" + "".join(f" {arg}" for arg in (argv if argv is not None else sys.argv[1:]))
    markdown = report.render(results, command=command, started_at=started_at, elapsed=elapsed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown)
    print(report.console_summary(results))
    log(f"wrote {args.output} after {elapsed:.0f} s")
    return 0


def run_local(results: Results, work: Workdir, bin_dir: Path | None, *, postgres_rows: bool) -> None:
    """Every phase that runs servers on this machine (not in containers), in order."""
    run_http(results, work, bin_dir)
    with Phase(results, "observability cost"):
        observability.measure(results, work)
    if postgres_rows:
        postgres.measure(results, work)
    with Phase(results, "edge: head limits and auth"):
        edge.run(results, python=PYTHON, root=work.root, environment=lambda port: service_env(work, port),
                 interleave=interleaved)  # fmt: skip
    with Phase(results, "start-up (local)"):
        makers: dict[str, Callable[[], Server]] = {"service": lambda: make_service(work, "startup")}
        if bin_dir is not None:
            granian_bin = bin_dir
            makers["granian"] = lambda: make_granian(work, granian_bin, "startup-granian")
        startup_local(results, makers)
    with Phase(results, "bad setting: time to exit"):
        results.bad_config = bad_config.measure(results.plan.startup_runs)
    with Phase(results, "memory"):
        memory(results, "service", make_service(work, "memory"))
        if bin_dir is not None:
            memory(results, "granian", make_granian(work, bin_dir, "memory-granian"))


def run_http(results: Results, work: Workdir, bin_dir: Path | None) -> None:
    service = make_service(work)
    hello = make_baseline(work, "hello", "/")
    tutorial = make_baseline(work, "tutorial", "/tasks/1")
    granian = make_granian(work, bin_dir) if bin_dir is not None else None
    servers = [service, hello, *([granian] if granian else [])]
    try:
        with Phase(results, "servers up, seed"):
            for server in servers:
                server.start()
            seed(service, SEED_TASKS)
            tutorial.start()
            servers.append(tutorial)
        os.environ["BENCH_ID_MAX"] = str(SEED_TASKS)
        with Phase(results, "throughput: reads"):
            reads: list[Job] = [(hello, HELLO), (tutorial, GET_TASK)]
            for server in [service, *([granian] if granian else [])]:
                reads += [(server, HEALTH), (server, GET_TASK), (server, LIST_TASKS)]
            interleaved(results, reads)
        # Writes after every read, so GET /tasks counts the same table size in every round.
        with Phase(results, "throughput: writes"):
            interleaved(results, [(server, POST_TASK) for server in [service, *([granian] if granian else [])]])
        with Phase(results, "health under POST load"):
            for server in [service, *([granian] if granian else [])]:
                loaded_health(results, server)
        with Phase(results, "concurrency"):
            for server in [service, *([granian] if granian else [])]:
                for endpoint in (GET_TASK, POST_TASK):
                    for connections in (64, 128):
                        concurrency(results, server, endpoint, connections)
            # Last: a deadlocked tutorial server is killed after this run.
            concurrency(results, tutorial, GET_TASK, 64)
            results.tutorial_after_64 = http_request(tutorial.port, "GET", "/tasks/1", timeout=3)[0]
            tutorial.stop(timeout=3)
        with Phase(results, "graceful shutdown"):
            for server in [service, *([granian] if granian else [])]:
                served = requests_served(server.log)
                results.rss_end[server.name] = (server.rss_kib(), served)
                results.shutdown[server.name] = stop_during_slow_request(server)
                results.access_log[server.name] = check_access_log(server.log)
                log(f"{server.name}: {results.shutdown[server.name]}")
    finally:
        for server in servers:
            server.stop(timeout=5)


def run_docker(results: Results) -> None:
    with Phase(results, "images (build all targets, sizes)"):
        results.images, results.images_build_seconds = containers.image_sizes()
    with Phase(results, "container start-up"):
        results.container_startup = containers.container_startup(results.plan.container_runs)
    with Phase(results, "cold and code-only builds"):
        results.builds = containers.build_times()
        log(f"builds: {results.builds}")


if __name__ == "__main__":
    raise SystemExit(main())
