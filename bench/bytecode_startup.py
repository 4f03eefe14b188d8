"""Measure what precompiled bytecode buys the production image: its size cost and the start-up it saves.

Run from the repository root (the production build is cached, so it takes seconds):

    uv run python -m bench.bytecode_startup               # build, measure 10 interleaved runs, write docs/bytecode.md
    uv run python -m bench.bytecode_startup --runs 20     # more runs
    uv run python -m bench.bytecode_startup --no-build    # measure the task-api:production already built

Builds `task-api:production` from docker/Dockerfile (unchanged), then derives
two variants from it with throwaway stdin Dockerfiles that delete .pyc files:

- `all`: the image as shipped (standard library, environment and code compiled);
- `no-stdlib`: the standard library's .pyc deleted, environment and code kept;
- `none`: every .pyc deleted (standard library, /app/.venv, /app/service).

Deleting files in a derived layer does not shrink an image, so the size cost is
the sum of the .pyc files' sizes in the shipped image, per area. Start-up is
timed per run from just before `docker run -d` to the first 200 on GET /health
(through the port published on 127.0.0.1) and to Docker's "healthy", with the
containers run as deployed (`--read-only --tmpfs /tmp`, PYTHONDONTWRITEBYTECODE=1
from the image: nothing is cached at run time, so a missing .pyc is compiled on
every start). Variants are interleaved (all, no-stdlib, none, all, ...) so that
machine noise spreads over all of them. Every container and derived image this
script makes is removed at the end, whatever happens.

The Docker client is $DOCKER (as exported by container-bases/ensure-docker),
else `docker`. Nothing is pulled.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
IMAGE = "task-api:production"
# Derived images and pinned tags are named <DERIVED_REPO>:<variant>-<session>.
DERIVED_REPO = "task-api-bytecode"
LABEL = "task-api-bytecode"
COMMAND = "uv run python -m bench.bytecode_startup"
STANDIN_LABEL = "io.container-bases.standin"
STANDIN_FOR_LABEL = "io.container-bases.standin-for"
DEFAULT_OUTPUT = ROOT / "docs" / "bytecode.md"

# The image's layout (docker/Dockerfile): the environment and the service code.
VENV = "/app/.venv"
CODE = "/app/service"
PORT = "8000"
CONTAINER_PORT = f"{PORT}/tcp"

POLL_HTTP = 0.020  # seconds between GET /health attempts
HTTP_TIMEOUT = 30.0  # bound on the wait for the first 200
POLL_HEALTH = 0.050  # seconds between `docker inspect` health polls
HEALTH_TIMEOUT = 60.0  # bound on the wait for "healthy" (start-interval 1s, start-period 30s)
RUN_OPTIONS = ("--read-only", "--tmpfs", "/tmp")
PROBE = ("python", "-m", "service.healthcheck")  # the image's HEALTHCHECK command

# Run inside the shipped image (as its user, read-only): sums the .pyc files per area and prints JSON.
PYC_SURVEY = r"""
import json, os, sys, sysconfig
areas = {"stdlib": sysconfig.get_path("stdlib"), "venv": sys.argv[1], "code": sys.argv[2]}
result = {name: {"path": path, "files": 0, "bytes": 0} for name, path in areas.items()}
result["other"] = {"path": "/ (elsewhere)", "files": 0, "bytes": 0}
def area_of(path):
    for name, prefix in areas.items():
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return name
    return "other"
for top, dirs, files in os.walk("/"):
    if top == "/":
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
    for name in files:
        if name.endswith(".pyc"):
            path = os.path.join(top, name)
            try:
                size = os.lstat(path).st_size
            except OSError:
                continue
            entry = result[area_of(path)]
            entry["files"] += 1
            entry["bytes"] += size
print(json.dumps(result))
"""
AREAS = ("stdlib", "venv", "code")


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    delete_areas: tuple[str, ...]  # areas whose .pyc the derived image deletes; () = the shipped image


VARIANTS = (
    Variant("all", "as shipped: standard library, environment and code precompiled", ()),
    Variant("no-stdlib", "standard library .pyc deleted; environment and code kept", ("stdlib",)),
    Variant("none", "every .pyc deleted: standard library, environment, code", AREAS),
)
REFERENCE = "all"


@dataclass(frozen=True)
class AreaSize:
    path: str
    files: int
    size: int


@dataclass(frozen=True)
class Sample:
    run_returned: float  # seconds from just before `docker run -d` until it returned
    first_200: float  # ... until the first 200 on GET /health
    healthy: float  # ... until `docker inspect` reported "healthy"
    probe: float  # seconds for `docker exec` of the HEALTHCHECK command once healthy (server idle)


@dataclass
class Measured:
    variant: Variant
    image: str
    pyc_left: dict[str, AreaSize]
    samples: list[Sample] = field(default_factory=list)


class Engine:
    """The docker CLI, remembering every container and image it creates so they can all be removed."""

    def __init__(self) -> None:
        self.command = shlex.split(os.environ.get("DOCKER") or "docker")
        self.session = secrets.token_hex(4)
        self.containers: list[str] = []
        self.images: list[str] = []

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True) -> str:
        try:
            result = subprocess.run(
                [*self.command, *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, "DOCKER_BUILDKIT": "1"},
            )
        except subprocess.TimeoutExpired as exc:
            raise SystemExit(f"`docker {' '.join(args)}` timed out after {timeout:.0f} s") from exc
        if check and result.returncode != 0:
            raise SystemExit(
                f"`docker {' '.join(args)}` failed ({result.returncode}):\n{result.stderr.strip()[-3000:]}"
            )
        return result.stdout

    def tag(self, variant: str) -> str:
        return f"{DERIVED_REPO}:{variant}-{self.session}"

    def cleanup(self) -> None:
        listed = self.run("ps", "-aq", "--filter", f"label={LABEL}={self.session}", check=False).split()
        for container in dict.fromkeys([*self.containers, *listed]):
            self.run("rm", "-f", "-v", container, check=False)
        for image in reversed(self.images):
            self.run("image", "rm", image, check=False)


# --------------------------------------------------------------------------- build and derive


def build_production(engine: Engine) -> None:
    started = time.monotonic()
    print(f"building {IMAGE} ...", end=" ", flush=True, file=sys.stderr)
    engine.run("build", "-f", str(DOCKERFILE), "-t", IMAGE, str(ROOT), timeout=1800)
    print(f"{time.monotonic() - started:.1f} s", file=sys.stderr)


def survey(engine: Engine, image: str) -> dict[str, AreaSize]:
    """The .pyc files (count and bytes) per area of an image."""
    output = engine.run(
        "run", "--rm", "--read-only", "--network", "none", "--label", f"{LABEL}={engine.session}",
        "--entrypoint", "python", image, "-c", PYC_SURVEY, VENV, CODE,
    )  # fmt: skip
    data = json.loads(output)
    return {
        name: AreaSize(path=str(v["path"]), files=int(v["files"]), size=int(v["bytes"])) for name, v in data.items()
    }


def derived_dockerfile(base: str, paths: list[str]) -> str:
    quoted = " ".join(shlex.quote(path) for path in paths)
    return (
        f"FROM {base}\n"
        "USER root\n"
        f"RUN find {quoted} -name '*.pyc' -type f -delete \\\n"
        f"    && find {quoted} -depth -type d -name __pycache__ -empty -delete\n"
        "USER 10001:10001\n"
    )


def derive(engine: Engine, pinned: str, shipped: dict[str, AreaSize]) -> list[Measured]:
    """One image per variant: the pinned shipped image for `all`, derived images for the others, checked."""
    measured = []
    for variant in VARIANTS:
        if not variant.delete_areas:
            image = pinned
        else:
            image = engine.tag(variant.name)
            dockerfile = derived_dockerfile(pinned, [shipped[area].path for area in variant.delete_areas])
            print(f"deriving {image} ...", file=sys.stderr)
            engine.images.append(image)
            engine.run("build", "-q", "-t", image, "-", stdin=dockerfile, timeout=600)
        left = survey(engine, image)
        for area in AREAS:
            expected = 0 if area in variant.delete_areas else shipped[area].files
            if left[area].files != expected:
                raise SystemExit(
                    f"{variant.name}: expected {expected} .pyc under {shipped[area].path}, found {left[area].files}"
                )
        measured.append(Measured(variant=variant, image=image, pyc_left=left))
    return measured


# --------------------------------------------------------------------------- timing


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException, urllib.error.URLError):
        return False


def published_port(engine: Engine, container: str) -> int:
    binding = engine.run("port", container, CONTAINER_PORT).split()[0]
    host, _, port = binding.rpartition(":")
    if host != "127.0.0.1":
        raise SystemExit(f"port {CONTAINER_PORT} published on {binding}, expected 127.0.0.1")
    return int(port)


def container_failure(engine: Engine, container: str, what: str) -> SystemExit:
    state = engine.run("inspect", "-f", "{{.State.Status}} (exit {{.State.ExitCode}})", container, check=False)
    logs = engine.run("logs", "--tail", "30", container, check=False)
    return SystemExit(f"{what}; container {container[:12]} is {state.strip()}; last logs:\n{logs}")


def time_start(engine: Engine, image: str) -> Sample:
    """One cold start of `image`: seconds to `docker run -d` returning, to the first 200 and to "healthy"."""
    started = time.perf_counter()
    container = engine.run(
        "run", "-d", "--label", f"{LABEL}={engine.session}", "-p", f"127.0.0.1::{PORT}",
        *RUN_OPTIONS, image,
    ).strip()  # fmt: skip
    run_returned = time.perf_counter() - started
    engine.containers.append(container)
    try:
        url = f"http://127.0.0.1:{published_port(engine, container)}/health"

        first_200 = None
        attempt = started
        while time.perf_counter() - started < HTTP_TIMEOUT:
            if http_ok(url):
                first_200 = time.perf_counter() - started
                break
            attempt += POLL_HTTP
            time.sleep(max(0.0, attempt - time.perf_counter()))
        if first_200 is None:
            raise container_failure(engine, container, f"no 200 from {url} within {HTTP_TIMEOUT:.0f} s")

        healthy = None
        health: dict[str, object] = {}
        while time.perf_counter() - started < HEALTH_TIMEOUT:
            health = json.loads(engine.run("inspect", "-f", "{{json .State.Health}}", container)) or {}
            if health.get("Status") == "healthy":
                healthy = time.perf_counter() - started
                break
            if health.get("Status") == "unhealthy":
                break
            time.sleep(POLL_HEALTH)
        if healthy is None:
            raise container_failure(engine, container, f"not healthy within {HEALTH_TIMEOUT:.0f} s ({health})")

        # One probe more, timed from here while the server idles: the HEALTHCHECK's own cost.
        probe_started = time.perf_counter()
        engine.run("exec", container, *PROBE, timeout=30)
        probe = time.perf_counter() - probe_started
        return Sample(run_returned=run_returned, first_200=first_200, healthy=healthy, probe=probe)
    finally:
        engine.run("rm", "-f", "-v", container, check=False)
        engine.containers.remove(container)


def measure(engine: Engine, measured: list[Measured], runs: int, warmup: int) -> None:
    total = warmup + runs
    for index in range(total):
        counted = index >= warmup
        label = f"run {index - warmup + 1}/{runs}" if counted else f"warm-up {index + 1}/{warmup}"
        parts = []
        for item in measured:
            sample = time_start(engine, item.image)
            if counted:
                item.samples.append(sample)
            parts.append(f"{item.variant.name} {sample.first_200:.2f}/{sample.healthy:.2f} s")
        print(f"{label}: " + ", ".join(parts) + " (first 200 / healthy)", file=sys.stderr)


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class Stats:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        return cls(statistics.median(values), min(values), max(values))

    def cell(self) -> str:
        return f"{self.median:.2f} ({self.low:.2f}-{self.high:.2f})"


def mb(size: int) -> float:
    return size / 1e6


@dataclass(frozen=True)
class Summary:
    name: str
    description: str
    pyc_files: int
    run_returned: Stats
    first_200: Stats
    after_run: Stats  # first 200 minus `docker run -d` returning, per run: the container's own start-up
    healthy: Stats
    probe: Stats


def summarize(measured: list[Measured]) -> list[Summary]:
    summaries = []
    for item in measured:
        samples = item.samples
        summaries.append(
            Summary(
                name=item.variant.name,
                description=item.variant.description,
                pyc_files=sum(area.files for area in item.pyc_left.values()),
                run_returned=Stats.of([s.run_returned for s in samples]),
                first_200=Stats.of([s.first_200 for s in samples]),
                after_run=Stats.of([s.first_200 - s.run_returned for s in samples]),
                healthy=Stats.of([s.healthy for s in samples]),
                probe=Stats.of([s.probe for s in samples]),
            )
        )
    return summaries


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x"


def timing_rows(summaries: list[Summary]) -> tuple[list[str], list[list[str]]]:
    reference = next(s for s in summaries if s.name == REFERENCE)
    header = [
        "variant",
        ".pyc left",
        "docker run -d returned",
        "first 200 on /health",
        f"first 200 ÷ {REFERENCE}",
        "first 200 after run returned",
        "healthy",
        f"healthy ÷ {REFERENCE}",
        "health probe (exec, idle)",
    ]
    rows = [
        [
            s.name,
            str(s.pyc_files),
            s.run_returned.cell(),
            s.first_200.cell(),
            ratio(s.first_200.median, reference.first_200.median),
            s.after_run.cell(),
            s.healthy.cell(),
            ratio(s.healthy.median, reference.healthy.median),
            s.probe.cell(),
        ]
        for s in summaries
    ]
    return header, rows


def size_rows(shipped: dict[str, AreaSize], image_size: int) -> tuple[list[str], list[list[str]]]:
    header = ["area", "path", ".pyc files", ".pyc MB", "share of image"]
    areas = [area for area in (*AREAS, "other") if area in AREAS or shipped[area].files]
    rows = [
        [
            area,
            shipped[area].path,
            str(shipped[area].files),
            f"{mb(shipped[area].size):.2f}",
            f"{shipped[area].size / image_size * 100:.1f} %",
        ]
        for area in areas
    ]
    total_files = sum(shipped[area].files for area in areas)
    total = sum(shipped[area].size for area in areas)
    rows.append(["total", "", str(total_files), f"{mb(total):.2f}", f"{total / image_size * 100:.1f} %"])
    return header, rows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(cells[i]) for cells in [header, *rows]) for i in range(len(header))]
    for cells in [header, ["-" * width for width in widths], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip())


def markdown_table(header: list[str], rows: list[list[str]], right_from: int) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = [f"| {' | '.join(header)} |", f"| {' | '.join(align)} |"]
    escaped = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    lines += [f"| {' | '.join(row)} |" for row in escaped]
    return lines


def conclusion(summaries: list[Summary], shipped: dict[str, AreaSize]) -> list[str]:
    by_name = {s.name: s for s in summaries}
    every, no_stdlib, none = by_name["all"], by_name["no-stdlib"], by_name["none"]
    total = sum(shipped[area].size for area in AREAS)
    saved = none.first_200.median - every.first_200.median
    stdlib_saved = no_stdlib.first_200.median - every.first_200.median
    rest_saved = none.first_200.median - no_stdlib.first_200.median
    slower_everywhere = none.first_200.low > every.first_200.high
    lines = [
        f"Precompiled bytecode costs **{mb(total):.1f} MB** of the image and saves **{saved:.2f} s "
        f"({none.first_200.median / every.first_200.median:.2f}x)** of start-up to the first 200 "
        f"(median {every.first_200.median:.2f} s as shipped against {none.first_200.median:.2f} s without any .pyc).",
        "",
        f"- Standard library: {mb(shipped['stdlib'].size):.1f} MB of .pyc, saving {stdlib_saved:.2f} s "
        f"(no-stdlib ÷ all = {no_stdlib.first_200.median / every.first_200.median:.2f}x).",
        f"- Environment and code: {mb(shipped['venv'].size + shipped['code'].size):.1f} MB of .pyc, saving "
        f"{rest_saved:.2f} s more (none ÷ no-stdlib = {none.first_200.median / no_stdlib.first_200.median:.2f}x).",
        f"- The container's own start-up (first 200 minus `docker run -d` returning): "
        f"{every.after_run.median:.2f} s as shipped against {none.after_run.median:.2f} s without .pyc "
        f"({none.after_run.median / every.after_run.median:.2f}x).",
        f"- Docker reports healthy after {every.healthy.median:.2f} s as shipped and {none.healthy.median:.2f} s "
        f"without .pyc ({none.healthy.median / every.healthy.median:.2f}x).",
    ]
    lines.append(
        f"- One HEALTHCHECK probe (`docker exec ... {' '.join(PROBE)}` on the idle server) takes "
        f"{every.probe.median * 1000:.0f} ms as shipped, {no_stdlib.probe.median * 1000:.0f} ms without the "
        f"standard library's .pyc and {none.probe.median * 1000:.0f} ms without any: paid every 10 s for the "
        "container's life, not only at start."
    )
    lines.append(
        f"- The first-200 ranges of `{every.name}` and `{none.name}` do "
        + ("not " if slower_everywhere else "")
        + "overlap: "
        + (
            "every start without .pyc was slower than every start as shipped."
            if slower_everywhere
            else "some starts without .pyc were as fast as some as shipped; more runs (`--runs`) would tell."
        )
    )
    return lines


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


@dataclass(frozen=True)
class Context:
    measured_at: dt.datetime
    engine: str
    command: str
    nproc: int
    cpu: str
    image_id: str
    image_size: int
    runs: int
    warmup: int
    standin_for: str | None  # the official image the base stands in for, if an offline stand-in


def render_markdown(ctx: Context, summaries: list[Summary], shipped: dict[str, AreaSize]) -> str:
    timing_header, timing = timing_rows(summaries)
    size_header, sizes = size_rows(shipped, ctx.image_size)
    out = [
        "# What precompiled bytecode buys the production image",
        "",
        f"Measured {ctx.measured_at:%Y-%m-%d %H:%M} UTC on Docker Engine {ctx.engine} by "
        "`bench/bytecode_startup.py` (generated file: edit the script, not this page). "
        "Command, from the repository root:",
        "",
        "```bash",
        ctx.command,
        "```",
        "",
        f"Machine: {ctx.nproc} CPUs (`nproc`), {ctx.cpu} (`/proc/cpuinfo`). "
        f"Image: `{IMAGE}` (`{ctx.image_id[:19]}`, {mb(ctx.image_size):.1f} MB).",
        "",
    ]
    if ctx.standin_for:
        out += [
            f"> **Offline stand-in base.** The image was built on a local stand-in for `{ctx.standin_for}` "
            f"(label `{STANDIN_LABEL}=true`; see docs/image-sizes.md): same CPython minor version, but not the "
            "official image. The .pyc sizes and the timings are of this build; the share of the image would differ "
            "on the official base.",
            "",
        ]
    out += [
        "## Conclusion",
        "",
        *conclusion(summaries, shipped),
        "",
        "## Start-up",
        "",
        f"Seconds from just before `docker run -d`, median (min-max) of {ctx.runs} runs per variant, interleaved "
        f"({', '.join(s.name for s in summaries)}, {summaries[0].name}, …) after {ctx.warmup} uncounted warm-up "
        f"round{'s' if ctx.warmup != 1 else ''}; containers run as deployed: `{' '.join(RUN_OPTIONS)}`, "
        "`PYTHONDONTWRITEBYTECODE=1` from the image, so a missing .pyc is compiled again at every start.",
        "",
        *markdown_table(timing_header, timing, right_from=1),
        "",
        "| variant | what it is |",
        "| --- | --- |",
        *[f"| `{s.name}` | {s.description} |" for s in summaries],
        "",
        f"- first 200: GET /health through the port published on 127.0.0.1, tried every {POLL_HTTP * 1000:.0f} ms "
        f"(bounded at {HTTP_TIMEOUT:.0f} s). It includes the engine's own work (create, network, start), the same "
        "for every variant; *after run returned* subtracts the time `docker run -d` took to return, per run.",
        f"- healthy: `docker inspect` polled every {POLL_HEALTH * 1000:.0f} ms. The image's HEALTHCHECK has "
        "`--start-interval=1s`, so this lands on a roughly one-second grid: it moves in steps, not smoothly.",
        f"- health probe: wall-clock time of one `docker exec <container> {' '.join(PROBE)}` (the image's "
        "HEALTHCHECK command) once healthy, the server idle; it includes the engine's exec overhead, the same for "
        "every variant. The probe imports only the standard library, so it gains from the standard library's .pyc.",
        "- .pyc left: checked in each variant's image before timing (the derived images delete them in a layer "
        "on top of the shipped one; the Dockerfile is unchanged).",
        "",
        "## Size cost",
        "",
        "Bytes of the .pyc files in the shipped image (`os.lstat` sizes summed per area, decimal MB), "
        "uncompressed, as `docker image inspect` counts image size.",
        "",
        *markdown_table(size_header, sizes, right_from=2),
        "",
        "CPython 3.12 freezes the modules its own start-up needs (`os`, `site`, `codecs`, `io`, `abc`, importlib's "
        "bootstrap, …) into the interpreter, so those load without a .pyc in every variant; the difference above "
        "is everything else the service imports.",
    ]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="counted runs per variant (default: 10)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted warm-up rounds first (default: 1)")
    parser.add_argument("--no-build", action="store_true", help=f"measure the existing {IMAGE}")
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown report (default: docs/bytecode.md)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")

    engine = Engine()
    try:
        if not args.no_build:
            build_production(engine)
        # Pin the image measured: another build may move the task-api:production tag meanwhile.
        image_id = engine.run("image", "inspect", "-f", "{{.Id}}", IMAGE).strip()
        image_size = int(engine.run("image", "inspect", "-f", "{{.Size}}", image_id).strip())
        labels = json.loads(engine.run("image", "inspect", "-f", "{{json .Config.Labels}}", image_id)) or {}
        pinned = engine.tag("all")
        engine.images.append(pinned)
        engine.run("tag", image_id, pinned)

        shipped = survey(engine, pinned)
        measured = derive(engine, pinned, shipped)
        measure(engine, measured, args.runs, args.warmup)
        engine_version = engine.run("version", "--format", "{{.Server.Version}}").strip()
    finally:
        engine.cleanup()

    summaries = summarize(measured)
    ctx = Context(
        measured_at=dt.datetime.now(dt.UTC),
        engine=engine_version,
        command=" ".join([COMMAND, *(shlex.quote(arg) for arg in (argv if argv is not None else sys.argv[1:]))]),
        nproc=len(os.sched_getaffinity(0)),
        cpu=cpu_model(),
        image_id=image_id,
        image_size=image_size,
        runs=args.runs,
        warmup=args.warmup,
        standin_for=labels.get(STANDIN_FOR_LABEL, "?") if labels.get(STANDIN_LABEL) == "true" else None,
    )

    print()
    print_table(*timing_rows(summaries))
    print()
    print_table(*size_rows(shipped, image_size))
    print()
    for line in conclusion(summaries, shipped):
        print(line.replace("**", "").replace("`", ""))

    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_markdown(ctx, summaries, shipped))
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
