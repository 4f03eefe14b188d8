"""Build every target of docker/Dockerfile and report the image sizes.

Run from the repository root (builds are cached, so a re-run takes seconds):

    uv run python -m bench.size_report                 # build, print, write docs/image-sizes.{md,svg}
    uv run python -m bench.size_report --no-build      # report the task-api:<target> images already built
    uv run python -m bench.size_report --output-dir /tmp/sizes --python-version 3.13

Then the VARIANTS (a target built with build arguments: production with the
`auth` or the `otel` extra). For each: its base image (from the target's `FROM ... AS <target>` line
in the Dockerfile), size in decimal MB (bytes / 1e6, `docker image inspect`),
reduction against `naive`, layer count, the three largest layers and the
image's own layers (image size minus base image size). The base images'
`io.container-bases.*` labels say whether they are offline stand-ins for the
official images; the Markdown says so and how the numbers translate.

The Docker client is $DOCKER (as exported by container-bases/ensure-docker),
else `docker`. Nothing is pulled: the bases must exist locally.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from html import escape
from pathlib import Path

from bench import dockerfile as stage_graph

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
IMAGE = "task-api"
# Lesson order (the numbered steps in the Dockerfile); minimal is "beyond the lesson".
TARGETS = ["naive", "slim", "multistage", "alpine", "production", "minimal"]
REFERENCE = "naive"
# Images built from a target with build arguments, measured after the lesson's targets:
# name -> (target, build arguments). The production image with the optional tracing extra.
VARIANTS = {
    "production-auth": ("production", {"EXTRAS": "auth"}),
    "production-otel": ("production", {"EXTRAS": "otel"}),
}
COMMAND = "uv run python -m bench.size_report"

STANDIN_LABEL = "io.container-bases.standin"
STANDIN_FOR_LABEL = "io.container-bases.standin-for"
BUILT_FROM_LABEL = "io.container-bases.built-from"
# Uncompressed size of the official images (docker-library/repo-info "Virtual Size"),
# as recorded in shared/container-bases/README.md ("The images").
OFFICIAL_SIZES = {
    "python:3.12": (1020.0, "1.02 GB (`3.12.14-bookworm`)"),
    "python:3.12-slim": (124.3, "124.3 MB (`3.12.13-slim-bookworm`)"),
    "python:3.12-alpine": (48.84, "48.84 MB (`3.12.14-alpine3.23`)"),
}
CONTAINER_BASES_README = "shared/container-bases/README.md"


@dataclass(frozen=True)
class Layer:
    size: int
    created_by: str
    from_base: bool


@dataclass(frozen=True)
class Image:
    ref: str
    size: int
    layers: list[str]
    labels: dict[str, str]


@dataclass(frozen=True)
class Row:
    target: str
    base: str  # image reference, or "scratch"
    image: Image
    base_image: Image | None  # None for FROM scratch
    largest: list[Layer]

    @property
    def own_size(self) -> int:
        return self.image.size - (self.base_image.size if self.base_image else 0)

    @property
    def own_layer_count(self) -> int:
        return len(self.image.layers) - (len(self.base_image.layers) if self.base_image else 0)

    @property
    def base_matches(self) -> bool:
        """The base's layers are the image's first layers (false if the base was rebuilt after the image)."""
        if self.base_image is None:
            return True
        return self.image.layers[: len(self.base_image.layers)] == self.base_image.layers


def mb(size: int) -> float:
    return size / 1e6


def docker_command() -> list[str]:
    return shlex.split(os.environ.get("DOCKER") or "docker")


def docker(*args: str) -> str:
    result = subprocess.run([*docker_command(), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"`docker {' '.join(args)}` failed ({result.returncode}):\n{result.stderr.strip()}")
    return result.stdout


# --------------------------------------------------------------------------- Dockerfile


def stage_bases(dockerfile: Path, build_args: dict[str, str]) -> dict[str, str]:
    """Map every named stage to the image it starts FROM, following stage-to-stage references."""
    return stage_graph.stage_bases(stage_graph.read(dockerfile, build_args))


# --------------------------------------------------------------------------- docker queries


def inspect(ref: str) -> Image:
    data = json.loads(docker("image", "inspect", ref))[0]
    return Image(
        ref=ref,
        size=int(data["Size"]),
        layers=list(data["RootFS"].get("Layers") or []),
        labels=dict(data["Config"].get("Labels") or {}),
    )


def history(ref: str) -> list[tuple[int, str]]:
    """(size in bytes, CREATED BY) of every history entry, newest first."""
    entries = []
    for line in docker("history", "--human=false", "--no-trunc", "--format", "{{json .}}", ref).splitlines():
        entry = json.loads(line)
        entries.append((int(entry["Size"]), str(entry["CreatedBy"])))
    return entries


def largest_layers(ref: str, base: str | None, count: int = 3) -> list[Layer]:
    entries = history(ref)
    base_entries = len(history(base)) if base else 0
    own_entries = len(entries) - base_entries
    layers = [
        Layer(size=size, created_by=created_by, from_base=index >= own_entries)
        for index, (size, created_by) in enumerate(entries)
        if size > 0
    ]
    return sorted(layers, key=lambda layer: layer.size, reverse=True)[:count]


def shorten(created_by: str, width: int = 56) -> str:
    """`RUN |4 A=1 ... /bin/sh -c pip install ... # buildkit` -> `RUN pip install ...`, cut to `width`."""
    text = re.sub(r"\s+", " ", created_by).strip()
    text = re.sub(r"\s*# buildkit$", "", text)
    text = re.sub(r"^/bin/sh -c #\(nop\)\s*", "", text)
    if text.startswith("RUN |") and "/bin/sh -c " in text:
        text = "RUN " + text.split("/bin/sh -c ", 1)[1]
    text = re.sub(r"^(?:RUN )?/bin/sh -c ", "RUN ", text)
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


# --------------------------------------------------------------------------- build and measure


def build(targets: list[str], build_args: dict[str, str]) -> None:
    """Build each target (or VARIANTS name) as task-api:<name>."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    for name in targets:
        target, variant_args = VARIANTS.get(name, (name, {}))
        arguments = build_args | variant_args
        args = [arg for key, value in arguments.items() for arg in ("--build-arg", f"{key}={value}")]
        started = time.monotonic()
        print(f"building {IMAGE}:{name} ...", end=" ", flush=True, file=sys.stderr)
        command = [*docker_command(), "build", "-f", str(DOCKERFILE), "--target", target, "-t", f"{IMAGE}:{name}"]
        result = subprocess.run(
            [*command, *args, str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            print("FAILED", file=sys.stderr)
            raise SystemExit(f"build of {name} (target {target}) failed:\n{result.stderr[-4000:]}")
        print(f"{time.monotonic() - started:.1f} s", file=sys.stderr)


def measure(targets: list[str], bases: dict[str, str]) -> list[Row]:
    base_images: dict[str, Image] = {}
    rows = []
    for target in targets:
        base = bases[target]
        base_image = None
        if base != "scratch":
            base_image = base_images.get(base) or inspect(base)
            base_images[base] = base_image
        ref = f"{IMAGE}:{target}"
        image = inspect(ref)
        largest = largest_layers(ref, base if base_image else None)
        rows.append(Row(target=target, base=base, image=image, base_image=base_image, largest=largest))
    return rows


def reduction(row: Row, reference: Row) -> str:
    if row is reference:
        return "—"
    return f"{(1 - row.image.size / reference.image.size) * 100:.0f} %"


def ratio_line(rows: list[Row]) -> str | None:
    by_target = {row.target: row for row in rows}
    if "minimal" not in by_target or "production" not in by_target:
        return None
    minimal, production = by_target["minimal"].image.size, by_target["production"].image.size
    return (
        f"minimal / production = {mb(minimal):.1f} MB / {mb(production):.1f} MB = {minimal / production:.2f} "
        f"(minimal is {(1 - minimal / production) * 100:.0f} % smaller)"
    )


# --------------------------------------------------------------------------- output


def print_table(rows: list[Row]) -> None:
    reference = next((row for row in rows if row.target == REFERENCE), rows[0])
    header = ["target", "base image", "size MB", "vs naive", "layers (own)", "own MB"]
    lines = [
        [
            row.target,
            row.base,
            f"{mb(row.image.size):.1f}",
            reduction(row, reference),
            f"{len(row.image.layers)} ({row.own_layer_count})",
            f"{mb(row.own_size):.1f}",
        ]
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]
    for cells in [header, ["-" * width for width in widths], *lines]:
        print(
            "  ".join(
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            )
        )
    print()
    print("three largest layers:")
    for row in rows:
        print(f"  {row.target}:")
        for layer in row.largest:
            where = " [base]" if layer.from_base else ""
            print(f"    {mb(layer.size):8.1f} MB{where}  {shorten(layer.created_by, 90)}")
    if line := ratio_line(rows):
        print()
        print(line)


def markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def distinct_bases(rows: list[Row]) -> list[Image]:
    seen: dict[str, Image] = {}
    for row in rows:
        if row.base_image is not None:
            seen.setdefault(row.base, row.base_image)
    return list(seen.values())


def render_markdown(rows: list[Row], *, measured_at: dt.datetime, engine: str, command: str, svg_name: str) -> str:
    reference = next((row for row in rows if row.target == REFERENCE), rows[0])
    bases = distinct_bases(rows)
    standins = [base for base in bases if base.labels.get(STANDIN_LABEL) == "true"]
    out = [
        "# Image sizes by target",
        "",
        f"Measured {measured_at:%Y-%m-%d %H:%M} UTC on Docker Engine {engine} by "
        "`bench/size_report.py` (generated file: edit the script, not this page). Command, from the repository root:",
        "",
        "```bash",
        command,
        "```",
        "",
    ]
    if standins:
        out += [
            "> **Offline stand-in bases.** No container registry was reachable, so the `python:*` images these targets "
            "start `FROM` were local stand-ins built under the official names "
            f"(`{CONTAINER_BASES_README}`), not the official images (details under [Base images](#base-images)). "
            "The **own-layer** sizes (what this Dockerfile adds) carry over to the official bases; absolute sizes and "
            "the reduction against naive do not.",
            "",
        ]
    out += [
        f"![Image size per target: base image part and own layers, in MB]({svg_name})",
        "",
        "| target | base image | size (MB) | vs naive | layers (own) | own layers (MB) | three largest layers |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        largest = "<br>".join(
            f"{mb(layer.size):.1f} MB{' (base)' if layer.from_base else ''} `{markdown_cell(shorten(layer.created_by))}`"
            for layer in row.largest
        )
        own = f"{mb(row.own_size):.1f}" + (" (whole image)" if row.base_image is None else "")
        out.append(
            f"| `{row.target}` | `{row.base}` | {mb(row.image.size):.1f} | {reduction(row, reference)} "
            f"| {len(row.image.layers)} ({row.own_layer_count}) | {own} | {largest} |"
        )
    out += [
        "",
        "- size: `docker image inspect -f '{{.Size}}'`, decimal MB (bytes / 10^6), uncompressed.",
        "- layers: `RootFS.Layers` of the image; (own) = those above the base image's.",
        "- own layers = image size minus base image size: what the Dockerfile controls. "
        "`minimal` is `FROM scratch`, so all of it is its own.",
        "- largest layers: `docker history --no-trunc`, CREATED BY shortened; (base) marks a base image layer.",
    ]
    for name, (target, variant_args) in VARIANTS.items():
        if any(row.target == name for row in rows):
            arguments = " ".join(f"--build-arg {key}={value}" for key, value in variant_args.items())
            out.append(f"- `{name}`: the `{target}` target built with `{arguments}` (not one of the lesson's steps).")
    if line := ratio_line(rows):
        out += ["", f"**{line}.**"]
    by_target = {row.target: row for row in rows}
    if "naive" in by_target and "slim" in by_target:
        cache = by_target["naive"].own_size - by_target["slim"].own_size
        if abs(cache) < 1_000_000:
            out += [
                "",
                f"Note: naive's own layers (pip with its download cache) and slim's (`--no-cache-dir`) differ by "
                f"{cache / 1e3:.0f} kB: pip cached nothing on this machine, so here naive and slim differ only by "
                "their base. With a cache, naive would be larger by about the size of the downloaded wheels.",
            ]
    mismatched = [row.target for row in rows if not row.base_matches]
    if mismatched:
        out += [
            "",
            f"Warning: the base image was rebuilt after these images were built: {', '.join(mismatched)}; "
            "their own-layer sizes are approximate (run without `--no-build`).",
        ]

    out += ["", "## Base images", ""]
    out += [
        "| base | offline stand-in | stands in for | built from | size here (MB) | official image (uncompressed) |",
        "| --- | --- | --- | --- | ---: | --- |",
    ]
    for base in bases:
        standin = base.labels.get(STANDIN_LABEL) == "true"
        official = OFFICIAL_SIZES.get(base.labels.get(STANDIN_FOR_LABEL, base.ref))
        out.append(
            f"| `{base.ref}` | {'**yes**' if standin else 'no'} "
            f"| {markdown_cell(base.labels.get(STANDIN_FOR_LABEL, '—'))} "
            f"| {markdown_cell(base.labels.get(BUILT_FROM_LABEL, '—'))} | {mb(base.size):.1f} "
            f"| {official[1] if official else 'not recorded'} |"
        )
    if standins:
        out += [
            "",
            "The stand-ins carry the labels `io.container-bases.standin=true`, `io.container-bases.standin-for` and "
            "`io.container-bases.built-from` (read from the images above; every image built on them inherits the "
            f"labels). Per `{CONTAINER_BASES_README}`, the official `python:3.12` is about 1.02 GB "
            "(buildpack-deps: compilers, many `-dev` packages), `python:3.12-slim` 124 MB and "
            "`python:3.12-alpine` 48.8 MB; the stand-in for `python:3.12` is much smaller (only `gcc make "
            "libc6-dev libffi-dev` on the slim root), and the `-alpine` stand-in is busybox + **glibc**, not musl, "
            "with no `apk`: it installs manylinux wheels where real Alpine takes musllinux ones "
            "(`tests/test_lock.py` checks that every runtime dependency has a musllinux wheel).",
            "",
            "Approximate size on the official bases (official base + own layers measured here; an estimate, "
            "since a layer's content can differ a little between bases):",
            "",
            "| target | own layers (MB) | official base | ≈ size on it (MB) | ≈ vs naive |",
            "| --- | ---: | --- | ---: | ---: |",
        ]
        estimates: dict[str, float] = {}
        for row in rows:
            if row.base_image is None:
                continue
            official = OFFICIAL_SIZES.get(row.base_image.labels.get(STANDIN_FOR_LABEL, row.base))
            if official:
                estimates[row.target] = official[0] + mb(row.own_size)
        naive_estimate = estimates.get(REFERENCE)
        for row in rows:
            if row.target in estimates:
                total = estimates[row.target]
                versus = (
                    "—"
                    if row.target == REFERENCE or naive_estimate is None
                    else f"{(1 - total / naive_estimate) * 100:.0f} %"
                )
                official_ref = row.base_image.labels.get(STANDIN_FOR_LABEL, row.base) if row.base_image else ""
                out.append(f"| `{row.target}` | {mb(row.own_size):.1f} | `{official_ref}` | {total:.0f} | {versus} |")
            elif row.base_image is None:
                out.append(f"| `{row.target}` | {mb(row.own_size):.1f} | none (`FROM scratch`) | n/a | n/a |")
        out += [
            "",
            "`minimal` has no base to swap: its files (interpreter, shared libraries) are collected from the "
            "stand-in's glibc tree, so on real Alpine (musl) it would differ in content, not only in size.",
        ]
    return "\n".join(out) + "\n"


SUMMARY_BEGIN = "<!-- image-sizes:begin (generated by bench/size_report.py) -->"
SUMMARY_END = "<!-- image-sizes:end -->"
# Documents that show the summary table between the markers above.
SUMMARY_DOCUMENTS = [ROOT / "README.md", ROOT / "docker" / "README.md"]


def render_summary(rows: list[Row], *, measured_at: dt.datetime) -> str:
    """The short table the READMEs show, so their numbers come from a measurement, not from typing."""
    naive = rows[0]
    lines = [
        f"Measured {measured_at:%Y-%m-%d} on offline stand-in bases by `{COMMAND}`; "
        "details in [docs/image-sizes.md](docs/image-sizes.md).",
        "",
        "| target | base | size (MB) | own layers (MB) | vs naive |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| `{row.target}` | `{row.base}` | {mb(row.image.size):.1f} | {mb(row.own_size):.1f} "
            f"| {reduction(row, naive)} |"
        )
    ratio = ratio_line(rows)
    if ratio:
        lines += ["", ratio]
    return "\n".join(lines)


def update_summaries(summary: str) -> list[Path]:
    """Replace the text between the markers in each document that has them."""
    updated = []
    for document in SUMMARY_DOCUMENTS:
        text = document.read_text() if document.exists() else ""
        if SUMMARY_BEGIN not in text or SUMMARY_END not in text:
            continue
        before, rest = text.split(SUMMARY_BEGIN, 1)
        _, after = rest.split(SUMMARY_END, 1)
        body = summary
        if document.parent != ROOT:  # links are relative to the document
            body = body.replace("](docs/", "](../docs/")
        document.write_text(f"{before}{SUMMARY_BEGIN}\n{body}\n{SUMMARY_END}{after}")
        updated.append(document)
    return updated


def render_svg(rows: list[Row], *, subtitle: str) -> str:
    """Horizontal two-tone bars: base image part (grey) and own layers (blue), labelled in MB."""
    label_width, bar_left, bar_width, text_room = 110, 120, 480, 330
    row_height, bar_height, top = 34, 22, 64
    width = bar_left + bar_width + text_room
    height = top + row_height * len(rows) + 44
    largest = max(row.image.size for row in rows)
    base_color, own_color = "#b8c0cc", "#2f6fde"
    font = "font-family=\"-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="title">',
        '<title id="title">task-api image size per Dockerfile target (decimal MB): base image and own layers</title>',
        f'<rect width="{width}" height="{height}" rx="6" fill="#ffffff" stroke="#d0d7de"/>',
        f'<text x="16" y="26" {font} font-size="16" font-weight="600" fill="#1f2328">'
        "task-api image size per target (MB)</text>",
        f'<text x="16" y="46" {font} font-size="12" fill="#57606a">{escape(subtitle)}</text>',
    ]
    for index, row in enumerate(rows):
        y = top + index * row_height
        base_size = row.base_image.size if row.base_image else 0
        base_px = bar_width * base_size / largest
        own_px = bar_width * max(row.own_size, 0) / largest
        text_y = y + bar_height / 2 + 4.5
        parts.append(
            f'<text x="{label_width}" y="{text_y:.1f}" text-anchor="end" {font} font-size="13" '
            f'fill="#1f2328">{escape(row.target)}</text>'
        )
        if base_px > 0:
            parts.append(
                f'<rect x="{bar_left}" y="{y}" width="{base_px:.1f}" height="{bar_height}" fill="{base_color}">'
                f"<title>{escape(row.base)}: {mb(base_size):.1f} MB</title></rect>"
            )
        parts.append(
            f'<rect x="{bar_left + base_px:.1f}" y="{y}" width="{own_px:.1f}" height="{bar_height}" '
            f'fill="{own_color}"><title>own layers: {mb(row.own_size):.1f} MB</title></rect>'
        )
        label = (
            f"{mb(row.image.size):.1f} MB = {row.base} {mb(base_size):.1f} + own {mb(row.own_size):.1f}"
            if row.base_image
            else f"{mb(row.image.size):.1f} MB, all own (FROM scratch)"
        )
        parts.append(
            f'<text x="{bar_left + base_px + own_px + 8:.1f}" y="{text_y:.1f}" {font} font-size="12" '
            f'fill="#1f2328">{escape(label)}</text>'
        )
    legend_y = top + row_height * len(rows) + 14
    parts += [
        f'<rect x="{bar_left}" y="{legend_y}" width="14" height="14" fill="{base_color}"/>',
        f'<text x="{bar_left + 20}" y="{legend_y + 11}" {font} font-size="12" fill="#1f2328">base image</text>',
        f'<rect x="{bar_left + 120}" y="{legend_y}" width="14" height="14" fill="{own_color}"/>',
        f'<text x="{bar_left + 140}" y="{legend_y + 11}" {font} font-size="12" fill="#1f2328">'
        "own layers (what the Dockerfile adds)</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--no-build", action="store_true", help=f"report the existing {IMAGE}:<target> images")
    parser.add_argument(
        "--output-dir", type=Path, default=ROOT / "docs", help="where image-sizes.md/.svg go (default: docs/)"
    )
    parser.add_argument("--python-version", help="PYTHON_VERSION build argument (default: the Dockerfile's ARG)")
    args = parser.parse_args(argv)

    build_args = {"PYTHON_VERSION": args.python_version} if args.python_version else {}
    bases = stage_bases(DOCKERFILE, build_args)
    missing = [target for target in TARGETS if target not in bases]
    if missing:
        raise SystemExit(f"{DOCKERFILE} has no stage named {', '.join(missing)}")
    bases |= {name: bases[target] for name, (target, _) in VARIANTS.items()}
    images = [*TARGETS, *VARIANTS]

    if not args.no_build:
        build(images, build_args)
    rows = measure(images, bases)
    engine = docker("version", "--format", "{{.Server.Version}}").strip()
    measured_at = dt.datetime.now(dt.UTC)
    command = " ".join([COMMAND, *(shlex.quote(arg) for arg in (argv if argv is not None else sys.argv[1:]))])

    print_table(rows)

    output_dir: Path = args.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    standin = any(row.base_image is not None and row.base_image.labels.get(STANDIN_LABEL) == "true" for row in rows)
    subtitle = f"Docker Engine {engine}, {measured_at:%Y-%m-%d}; " + (
        "bases: offline stand-ins (not the official images)" if standin else "bases: as tagged locally"
    )
    svg_path = output_dir / "image-sizes.svg"
    md_path = output_dir / "image-sizes.md"
    svg_path.write_text(render_svg(rows, subtitle=subtitle))
    md_path.write_text(
        render_markdown(rows, measured_at=measured_at, engine=engine, command=command, svg_name=svg_path.name)
    )
    print(f"\nwrote {md_path} and {svg_path}")
    if output_dir.resolve() == (ROOT / "docs").resolve():
        for document in update_summaries(render_summary(rows, measured_at=measured_at)):
            print(f"updated the size table in {document.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
