"""What a first `docker compose up` downloads: the compressed size of the images the production target needs.

    uv run python -m bench.first_pull                  # sizes from the registry (needs one: GitHub's runners)
    uv run python -m bench.first_pull --local          # sizes of the local images, `docker save | gzip -6`
    uv run python -m bench.first_pull --budget-mb 90   # exit 1 when the download is larger
    uv run python -m bench.first_pull --list           # just the images, one a line (to `docker pull` them)

The images come from docker/Dockerfile's stage graph (bench/dockerfile.py):
every base and `--from` source the production target reaches. From a
registry, the size is what `docker pull` transfers for one platform: the
compressed layers and the config blob of the platform's manifest, read with
`docker buildx imagetools inspect --raw` (nothing is pulled). `--local` is
for machines without a registry (this repository's own CI, whose bases are
offline stand-ins): gzip of `docker save` approximates the registry's
compressed layers, and the stand-ins differ from the official images, so
those figures describe the stand-ins only. `--compare` adds the images the
strip step used to need, so the report shows what moving it off the full
python image saved.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from bench import dockerfile
from bench.size_report import docker, docker_command

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
TARGET = "production"
# Before the strip stage moved to -slim, it ran on the full image: production pulled
# that instead of -slim.
FORMER_STRIP_BASE = "python:{version}"
STRIP_BASE = "python:{version}-slim"


@dataclass(frozen=True)
class Download:
    image: str
    bytes: int
    source: str  # "registry (linux/amd64)" or "`docker save`, gzip -6"


@dataclass(frozen=True)
class Former(Download):
    replaces: str  # the image that took its place


def registry_size(image: str, platform: str) -> Download:
    """Compressed layers + config of `image` for `platform`, from its manifest (an index is followed once)."""
    manifest = json.loads(docker("buildx", "imagetools", "inspect", "--raw", image))
    if "manifests" in manifest:  # an index: pick the platform's image manifest
        os_name, _, architecture = platform.partition("/")
        chosen = next(
            (
                entry
                for entry in manifest["manifests"]
                if entry.get("platform", {}).get("os") == os_name
                and entry.get("platform", {}).get("architecture") == architecture
            ),
            None,
        )
        if chosen is None:
            raise SystemExit(f"{image} has no manifest for {platform}")
        repository = image.split("@", 1)[0]
        if ":" in repository.rsplit("/", 1)[-1]:  # drop the tag, not a registry's port
            repository = repository.rsplit(":", 1)[0]
        manifest = json.loads(docker("buildx", "imagetools", "inspect", "--raw", f"{repository}@{chosen['digest']}"))
    total = int(manifest["config"]["size"]) + sum(int(layer["size"]) for layer in manifest["layers"])
    return Download(image, total, f"registry ({platform})")


def local_size(image: str) -> Download:
    """gzip -6 of `docker save`: about what a registry stores for the same layers."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # the gzip format, as `gzip -6`
    compressed = 0
    with subprocess.Popen([*docker_command(), "save", image], stdout=subprocess.PIPE) as save:
        if save.stdout is None:
            raise SystemExit("docker save gave no output stream")
        while chunk := save.stdout.read(1 << 20):
            compressed += len(compressor.compress(chunk))
    compressed += len(compressor.flush())
    if save.returncode != 0:
        raise SystemExit(f"`docker save {image}` failed ({save.returncode})")
    return Download(image, compressed, "`docker save`, gzip -6")


def images_for(target: str, build_args: dict[str, str]) -> list[str]:
    return sorted(dockerfile.images_pulled(dockerfile.read(DOCKERFILE, build_args), target))


def render(downloads: list[Download], former: Download | None, budget_mb: float | None) -> str:
    total = sum(item.bytes for item in downloads)
    lines = [
        f"### First pull of `{TARGET}` (`docker compose up` on an empty machine)",
        "",
        "| image | compressed MB | measured as |",
        "| --- | ---: | --- |",
        *[f"| `{item.image}` | {item.bytes / 1e6:.1f} | {item.source} |" for item in downloads],
        f"| **total** | **{total / 1e6:.1f}** | |",
        "",
    ]
    if former is not None:
        replaced = next(item for item in downloads if item.image == former.replaces)
        before = total - replaced.bytes + former.bytes
        lines += [
            f"Before the strip stage moved to `{former.replaces}` it ran on `{former.image}` "
            f"({former.bytes / 1e6:.1f} MB): {before / 1e6:.1f} MB in all.",
            "",
        ]
    if budget_mb is not None:
        verdict = "within" if total <= budget_mb * 1e6 else "**over**"
        lines += [f"Budget {budget_mb:g} MB: {verdict} ({total / 1e6:.1f} MB).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--local", action="store_true", help="measure the local images (docker save | gzip)")
    parser.add_argument("--platform", default="linux/amd64", help="registry mode: the platform to size")
    parser.add_argument("--python-version", default="3.12", help="PYTHON_VERSION build argument")
    parser.add_argument("--budget-mb", type=float, help="fail (exit 1) when the total is larger")
    parser.add_argument("--compare", action="store_true", help="also size the full python image strip used to need")
    parser.add_argument("--list", action="store_true", help="print the images, one a line, and stop")
    parser.add_argument("--all-targets", action="store_true", help="with --list: the images of every target")
    args = parser.parse_args(argv)
    build_args = {"PYTHON_VERSION": args.python_version}

    if args.list:
        stages = dockerfile.read(DOCKERFILE, build_args)
        targets = list(stages) if args.all_targets else [TARGET]
        print("\n".join(sorted(set().union(*(dockerfile.images_pulled(stages, target) for target in targets)))))
        return 0

    def size(image: str) -> Download:
        return local_size(image) if args.local else registry_size(image, args.platform)

    downloads = [size(image) for image in images_for(TARGET, build_args)]
    former = None
    if args.compare:
        measured = size(FORMER_STRIP_BASE.format(version=args.python_version))
        former = Former(measured.image, measured.bytes, measured.source, STRIP_BASE.format(version=args.python_version))
    print(render(downloads, former, args.budget_mb))
    total = sum(item.bytes for item in downloads)
    if args.budget_mb is not None and total > args.budget_mb * 1e6:
        print(f"first pull {total / 1e6:.1f} MB is over the {args.budget_mb:g} MB budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
