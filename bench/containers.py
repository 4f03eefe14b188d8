"""Container figures, reusing bench/size_report.py and bench/bytecode_startup.py instead of repeating them.

- image sizes: size_report's build() (cached) and measure() for every target;
- start-up of the production container, with and without bytecode: bytecode_startup's
  derive() and measure() (`docker run -d` to the first 200 and to healthy), for its
  `all` (as shipped) and `none` (every .pyc deleted) variants, interleaved;
- cold build: the production target with `--no-cache` (BuildKit's shared cache is never pruned);
- code-only rebuild: a temporary copy of the build context with one service file changed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import buildkit, size_report
from bench import bytecode_startup as bytecode

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENSURE_DOCKER = 'eval "$(bash /work/shared/container-bases/ensure-docker 2>/dev/null)"'
# What .dockerignore lets into the context; the rest of the tree is not copied for the rebuild.
CONTEXT_PATHS = ("pyproject.toml", "uv.lock", ".dockerignore", "service", "docker")
BENCH_REPO = "task-api-bench"


def docker_available() -> bool:
    try:
        command = [*size_report.docker_command(), "version", "--format", "{{.Server.Version}}"]
        return subprocess.run(command, capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_version() -> str:
    return str(size_report.docker("version", "--format", "{{.Server.Version}}").strip())


# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class ImageSize:
    target: str
    base: str
    size_mb: float
    own_mb: float
    standin: bool


def image_sizes() -> tuple[list[ImageSize], float]:
    """Build every target (cached) and measure it with size_report; (rows, seconds the builds took)."""
    bases = size_report.stage_bases(DOCKERFILE, {})
    started = time.monotonic()
    size_report.build(size_report.TARGETS, {})
    seconds = time.monotonic() - started
    rows = size_report.measure(size_report.TARGETS, bases)
    return [
        ImageSize(
            target=row.target,
            base=row.base,
            size_mb=size_report.mb(row.image.size),
            own_mb=size_report.mb(row.own_size),
            standin=row.base_image is not None and row.base_image.labels.get(size_report.STANDIN_LABEL) == "true",
        )
        for row in rows
    ], seconds


# --------------------------------------------------------------------------- start-up


@dataclass(frozen=True)
class StartupStats:
    variant: str
    description: str
    pyc_files: int
    runs: int
    first_200: list[float]
    healthy: list[float]
    run_returned: list[float]

    @property
    def first_200_median(self) -> float:
        return statistics.median(self.first_200)

    @property
    def healthy_median(self) -> float:
        return statistics.median(self.healthy)


def container_startup(runs: int, warmup: int = 1) -> list[StartupStats]:
    """Production start-up as shipped and without any .pyc, interleaved, with bytecode_startup's own functions."""
    engine = bytecode.Engine()
    variants = tuple(v for v in bytecode.VARIANTS if v.name in ("all", "none"))
    original = bytecode.VARIANTS
    try:
        image_id = engine.run("image", "inspect", "-f", "{{.Id}}", bytecode.IMAGE).strip()
        pinned = engine.tag("all")
        engine.images.append(pinned)
        engine.run("tag", image_id, pinned)
        shipped = bytecode.survey(engine, pinned)
        bytecode.VARIANTS = variants  # derive() walks the module's list: only the two variants compared here
        measured = bytecode.derive(engine, pinned, shipped)
        bytecode.measure(engine, measured, runs, warmup)
    finally:
        bytecode.VARIANTS = original
        engine.cleanup()
    return [
        StartupStats(
            variant=item.variant.name,
            description=item.variant.description,
            pyc_files=sum(area.files for area in item.pyc_left.values()),
            runs=len(item.samples),
            first_200=[s.first_200 for s in item.samples],
            healthy=[s.healthy for s in item.samples],
            run_returned=[s.run_returned for s in item.samples],
        )
        for item in measured
    ]


# --------------------------------------------------------------------------- builds


@dataclass(frozen=True)
class BuildTimes:
    cold_seconds: float
    unchanged_seconds: float  # the copied context built again, nothing changed (all cached)
    code_only_seconds: float
    dependencies_cached: bool  # the `uv sync` step was CACHED in the code-only rebuild
    code_rebuilt: bool  # the `COPY service` step was not


def _build(context: Path, tag: str, *extra: str) -> tuple[float, str]:
    command = [
        *size_report.docker_command(), "build", "--progress=plain", *extra,
        "-f", str(context / "docker" / "Dockerfile"), "-t", tag, str(context),
    ]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=1800, check=False, env={**os.environ, "DOCKER_BUILDKIT": "1"}
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"`{shlex.join(command)}` failed:\n{result.stderr[-3000:]}")
    return seconds, result.stderr


def build_times() -> BuildTimes:
    session = uuid.uuid4().hex[:8]
    cold_tag, rebuild_tag = f"{BENCH_REPO}:cold-{session}", f"{BENCH_REPO}:rebuild-{session}"
    try:
        # No layer from the cache; BuildKit's cache mounts (uv's download cache) stay as they are.
        cold, _ = _build(ROOT, cold_tag, "--no-cache")
        with tempfile.TemporaryDirectory(prefix="bench-context-") as tmp:
            context = Path(tmp)
            for name in CONTEXT_PATHS:
                source = ROOT / name
                if source.is_dir():
                    shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy2(source, context / name)
            unchanged, _ = _build(context, rebuild_tag)
            with (context / "service" / "__init__.py").open("a") as module:
                module.write(f"# a code-only change {uuid.uuid4()}\n")  # unique: no earlier cache holds it
            code_only, progress = _build(context, rebuild_tag)
    finally:
        for tag in (cold_tag, rebuild_tag):
            subprocess.run([*size_report.docker_command(), "rmi", tag], capture_output=True, check=False)
    dependency_steps = buildkit.cached(progress, "uv sync")
    code_steps = buildkit.cached(progress, "COPY service ./service")
    return BuildTimes(
        cold_seconds=cold,
        unchanged_seconds=unchanged,
        code_only_seconds=code_only,
        dependencies_cached=bool(dependency_steps) and all(dependency_steps),
        code_rebuilt=bool(code_steps) and not any(code_steps),
    )
