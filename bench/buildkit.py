"""BuildKit's `--progress=plain` output, read back: one entry per build step, and whether it came from the cache.

Shared by the benchmark (bench/containers.py) and the container tests
(tests/container/test_targets.py), which both check that a code-only change
rebuilds the code layer and reuses the dependency layer.
"""

from __future__ import annotations


def steps(progress: str) -> list[str]:
    """Every step of a plain progress log, its lines joined (BuildKit prefixes each line with the step's `#N`)."""
    grouped: dict[str, list[str]] = {}
    for line in progress.splitlines():
        number, _, text = line.partition(" ")
        if number.startswith("#") and number[1:].isdigit():
            grouped.setdefault(number, []).append(text)
    return ["\n".join(lines) for lines in grouped.values()]


def cached(progress: str, instruction: str) -> list[bool]:
    """For each step whose text contains `instruction` (e.g. "uv sync"), whether BuildKit reused it (CACHED)."""
    return ["CACHED" in step for step in steps(progress) if instruction in step]
