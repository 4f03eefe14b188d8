"""Where the service's time goes under load: py-spy on `python -m service` during GET /tasks/{id} and POST /tasks.

    uv run python -m bench.profile                # 15 s per scenario, raw stacks in /tmp/bench-profile/
    uv run python -m bench.profile --seconds 30

The service runs on core 0 with the benchmark's settings (bench/run.py), wrk on
core 1 at 32 connections. py-spy (from the throwaway venv of bench/granian_env.py)
samples at 250 Hz the thread holding the GIL (`--gil`): on one core that is the
Python work the server does (C code that releases the GIL, such as SQLite's own
work or the idle epoll wait, is not counted). Samples whose leaf is a thread
waiting on a Condition (an idle pool thread) are dropped too, so shares are of
the Python CPU time. Raw collapsed stacks (one line per stack,
flamegraph.pl/speedscope input) go to /tmp/bench-profile/<scenario>.txt, never
into the repository; the summary prints inclusive shares of named parts
(a sample counts for every part on its stack, so they overlap) and the top
self frames.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import granian_env, run, wrk
from bench.servers import http_request

OUTPUT = Path(tempfile.gettempdir()) / "bench-profile"
RATE = 250
# (part, substrings: a stack containing any of them counts). Frames read "function (path/file.py:line)".
IDLE_LEAVES = ("wait (threading.py",)
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("request id: uuid.uuid4() (os.urandom)", ("uuid4 (",)),
    ("event-loop thread (uvloop run)", ("run_until_complete (",)),
    ("worker threads (threadpool)", ("_bootstrap (threading.py", "worker_thread")),
    ("uvicorn httptools protocol", ("httptools_impl.py",)),
    ("RequestContextMiddleware (incl. app below it)", ("request_context.py",)),
    ("access log: structlog + logging emit", ("structlog/", "logging/__init__.py")),
    ("BodySizeLimitMiddleware (incl. app below it)", ("body_limit.py",)),
    ("FastAPI request_response / routing", ("fastapi/routing.py",)),
    ("FastAPI solve_dependencies", ("solve_dependencies (",)),
    ("request body parse + validation", ("request_body_to_args", "_extract_form_body", "json (starlette/requests.py")),
    ("threadpool hop (anyio to_thread, event-loop side)", ("run_sync_in_worker_thread", "run_in_threadpool")),
    ("TaskService (service layer, incl. repository)", ("service/services/tasks.py",)),
    ("SqlTaskRepository (incl. SQLAlchemy)", ("service/repositories/tasks.py",)),
    ("Session() creation", ("__init__ (sqlalchemy/orm/session.py", "__init__ (sqlmodel/orm/session.py")),
    ("Session begin/commit/close", ("commit (sqlalchemy/orm/session.py", "close (sqlalchemy/orm/session.py",
                                    "begin (sqlalchemy/orm/session.py", "__exit__ (sqlalchemy/orm/session.py")),
    ("connection pool checkout/return", ("sqlalchemy/pool/",)),
    ("_check_database_file (stat per checkout)", ("_check_database_file",)),
    ("SQL compile (incl. cache lookup)", ("_compile_w_cache", "sqlalchemy/sql/compiler.py")),
    ("DBAPI execute (sqlite3 cursor.execute)", ("do_execute (", "do_execute_no_params (")),
    ("ORM flush (INSERT)", ("flush (sqlalchemy/orm/session.py",)),
    ("ORM result loading", ("sqlalchemy/orm/loading.py",)),
    ("UtcDateTime result/bind processing", ("process_result_value", "process_bind_param")),
    ("TaskPublic.model_validate (_public)", ("_public (",)),
    ("Task(**data.model_dump()) (SQLModel table init)", ("sqlmodel/_compat.py", "__init__ (sqlmodel/main.py")),
    ("response serialization (serialize_response)", ("serialize_response",)),
    ("JSONResponse render", ("render (starlette/responses.py", "render (fastapi/responses.py")),
]  # fmt: skip


# Exclusive breakdown: a sample goes to the first of these buckets with a matching frame anywhere on its
# stack (so the access log's JSON encoding counts as logging, not as response serialization), else by
# LEAF_BUCKETS.
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("access log (structlog processors + logging + JSON render + write)", ("structlog/", "logging/__init__.py")),
    ("request id (uuid4)", ("uuid4 (",)),
    ("database (repository + SQLAlchemy + sqlite3)", ("service/repositories/", "sqlalchemy/", "sqlmodel/orm/")),
    ("request body read + validation", ("request_body_to_args", "json (starlette/requests.py", "body (starlette/")),
    ("response validation + serialization", ("serialize_response", "dump_json", "jsonable_encoder")),
    ("service layer + domain models (pydantic)", ("service/services/", "service/domain/", "pydantic/")),
    ("FastAPI dependency solving", ("solve_dependencies (",)),
    ("threadpool hop (anyio, thread handoff)", ("anyio/", "threading.py", "run_in_threadpool")),
    ("routing (route matching)", ("_match (", "matches (", "url_path_for")),
]
# The rest goes to the package of its innermost frame that has one: whose own code the time was spent in.
LEAF_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("uvicorn HTTP protocol (httptools, send/receive)", ("uvicorn/", "httptools/")),
    ("service middleware (own code)", ("service/middleware/",)),
    ("FastAPI/Starlette request handling (other)", ("fastapi/", "starlette/")),
    ("event loop (asyncio/uvloop)", ("asyncio/", "uvloop/")),
]


def bucket_of(frames: list[str]) -> str:
    for name, needles in BUCKETS:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    for frame in reversed(frames):
        for name, needles in LEAF_BUCKETS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def record(seconds: float) -> dict[str, Path]:
    bin_dir = granian_env.ensure()
    OUTPUT.mkdir(exist_ok=True)
    scenarios = {"get-task": run.GET_TASK, "post-task": run.POST_TASK}
    outputs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        work = run.Workdir(Path(tmp))
        work.models.mkdir()
        server = run.make_service(work)
        server.start()
        try:
            run.seed(server, run.SEED_TASKS)
            for name, endpoint in scenarios.items():
                raw = OUTPUT / f"{name}.txt"
                load = wrk.Background(server.url(), endpoint, connections=32, seconds=seconds + 4)
                time.sleep(1.5)  # past the first requests
                subprocess.run(
                    [str(bin_dir / "py-spy"), "record", "--pid", str(server.pid), "--duration", f"{seconds:.0f}",
                     "--rate", str(RATE), "--gil", "--format", "raw", "--output", str(raw)],
                    capture_output=True, check=True, timeout=seconds + 60,
                )  # fmt: skip
                result = load.result()
                print(f"{name}: {result.rps:.0f} req/s under py-spy, p99 {result.p99_ms:.1f} ms -> {raw}")
                outputs[name] = raw
            status, _ = http_request(server.port, "GET", "/health")
            if status != 200:
                raise SystemExit("the service stopped answering while profiled")
        finally:
            server.stop()
    return outputs


def parse(raw: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            stacks.append((stack.split(";"), int(number)))
    return stacks


def short(frame: str) -> str:
    """`fn (/long/path/site-packages/pkg/mod.py:12)` -> `fn (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})" if path else name


def summarize(raw: Path, top: int = 15) -> str:
    every = parse(raw)
    stacks = [(frames, count) for frames, count in every if not any(idle in frames[-1] for idle in IDLE_LEAVES)]
    total = sum(count for _, count in stacks) or 1
    dropped = sum(count for _, count in every) - total
    lines = [
        f"{raw.name}: {total} samples ({dropped} idle-wait samples dropped)",
        "",
        "  inclusive share of named parts (overlapping):",
    ]
    for part, needles in PARTS:
        hits = sum(count for frames, count in stacks if any(n in f for f in frames for n in needles))
        if hits:
            lines.append(f"    {hits / total * 100:5.1f} %  {part}")
    buckets: Counter[str] = Counter()
    for frames, count in stacks:
        buckets[bucket_of(frames)] += count
    lines += ["", "  exclusive breakdown (sums to 100 %):"]
    lines += [f"    {count / total * 100:5.1f} %  {name}" for name, count in buckets.most_common()]
    self_time: Counter[str] = Counter()
    for frames, count in stacks:
        self_time[short(frames[-1])] += count
    lines += ["", f"  top {top} self frames:"]
    lines += [f"    {count / total * 100:5.1f} %  {frame}" for frame, count in self_time.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=15, help="py-spy recording per scenario (default 15)")
    parser.add_argument("--summarize-only", action="store_true", help="re-read the raw files in /tmp/bench-profile")
    args = parser.parse_args(argv)
    os.environ["BENCH_ID_MAX"] = str(run.SEED_TASKS)
    if args.summarize_only:
        outputs = {path.stem: path for path in sorted(OUTPUT.glob("*-task.txt"))}
    else:
        outputs = record(args.seconds)
    summary = "\n\n".join(summarize(path) for path in outputs.values())
    (OUTPUT / "summary.txt").write_text(summary + "\n")
    print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
