"""docker/Dockerfile read as a graph of stages: what each stage starts FROM and copies or mounts from.

From it, `images_pulled(stages, target)` is the set of images a build of that
target needs (what a first build downloads), and `stage_bases` the image each
stage's filesystem starts from. Used by bench/size_report.py and by
tests/test_dockerfile.py, which fails when production starts needing another
image. Only what this project's Dockerfile uses is understood: global `ARG`
defaults (overridable by build arguments), `FROM image [AS name]`,
`COPY --from=…` and `RUN --mount=…,from=…`, backslash continuations, comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SCRATCH = "scratch"


@dataclass
class Stage:
    name: str  # its `AS` name, lower-cased, or its index when it has none
    base: str  # the FROM argument with build arguments expanded
    sources: list[str] = field(default_factory=list)  # `--from=` of COPY and RUN --mount, expanded


def instructions(text: str) -> list[str]:
    """Logical instructions: comments dropped, backslash-continued lines joined."""
    joined: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # a comment or blank line inside a continuation does not end it
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    if pending:
        joined.append(pending.strip())
    return joined


def expand(text: str, variables: dict[str, str]) -> str:
    """$VAR, ${VAR} and ${VAR:-default}, as a FROM line expands them."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        default = match.group(2)
        value = variables.get(name, "")
        return default if not value and default is not None else value

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", replace, text)


def parse(text: str, build_args: dict[str, str] | None = None) -> dict[str, Stage]:
    """Every stage by name, in file order (the last one is the default target)."""
    overrides = build_args or {}
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in instructions(text):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and current is None:
            for declaration in rest.split():
                name, _, default = declaration.partition("=")
                global_args[name] = overrides.get(name, default.strip("\"'"))
        elif keyword == "FROM":
            words = [word for word in rest.split() if not word.startswith("--platform=")]
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            current = Stage(name=name, base=expand(words[0], global_args))
            stages[name] = current
        elif keyword in ("COPY", "ADD", "RUN") and current is not None:
            sources = re.findall(r"--from=(\S+)", rest)
            for mount in re.findall(r"--mount=(\S+)", rest):
                options = dict(option.partition("=")[::2] for option in mount.split(","))
                if options.get("from"):
                    sources.append(options["from"])
            current.sources += [expand(source, global_args).lower() for source in sources]
    return stages


def read(path: Path, build_args: dict[str, str] | None = None) -> dict[str, Stage]:
    return parse(path.read_text(), build_args)


def default_target(stages: dict[str, Stage]) -> str:
    return list(stages)[-1]


def images_pulled(stages: dict[str, Stage], target: str) -> set[str]:
    """The images a build of `target` needs: bases and `--from` sources that are not stages, reached from it."""
    images: set[str] = set()
    seen: set[str] = set()
    pending = [target.lower()]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        stage = stages[name]
        for reference in [stage.base.lower(), *stage.sources]:
            if reference in stages:
                pending.append(reference)
            elif reference != SCRATCH:
                images.add(reference)
    return images


def stage_bases(stages: dict[str, Stage]) -> dict[str, str]:
    """The image each stage's filesystem starts from, following FROM <stage> chains."""

    def resolve(reference: str, depth: int = 0) -> str:
        if reference.lower() in stages and depth < len(stages):
            return resolve(stages[reference.lower()].base, depth + 1)
        return reference

    return {name: resolve(stage.base) for name, stage in stages.items()}
