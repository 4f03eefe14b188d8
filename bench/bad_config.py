"""How fast a bad setting stops the service: wall and CPU seconds of `python -m service` until it exits 2.

The robustness suite checks the behaviour deterministically (exit 2, one
line, the web stack never imported: tests/robustness/test_bad_config.py);
the time it takes is a figure, measured here, never asserted.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# (label, variable, bad value); {tmp} is a scratch directory holding a regular file `a-file`.
CASES = [
    ("invalid integer", "PORT", "eighty"),
    ("unsupported database scheme", "DATABASE_URL", "mysql://db/tasks"),
    ("MODELS_DIR is a file", "MODELS_DIR", "{tmp}/a-file"),
]


@dataclass(frozen=True)
class ExitTimes:
    label: str
    setting: str
    wall: list[float]
    cpu: list[float]  # user + system of the process

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def _one_run(environment: dict[str, str], cwd: Path) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "service"], cwd=cwd, env=environment, capture_output=True, timeout=30, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.returncode


def measure(runs: int) -> list[ExitTimes]:
    """Each case `runs` times, interleaved; a run that does not exit 2 stops the benchmark."""
    base = {key: value for key, value in os.environ.items() if key not in {"PORT", "DATABASE_URL", "MODELS_DIR"}}
    samples: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, _, _ in CASES}
    with tempfile.TemporaryDirectory(prefix="bench-bad-config-") as tmp:
        scratch = Path(tmp)
        (scratch / "a-file").write_text("a regular file")
        for _ in range(runs):
            for label, variable, value in CASES:
                environment = base | {"LOG_FORMAT": "json", variable: value.format(tmp=scratch)}
                wall, cpu, code = _one_run(environment, scratch)
                if code != 2:
                    raise SystemExit(f"bad setting {variable}={value!r} exited {code}, not 2")
                samples[label][0].append(wall)
                samples[label][1].append(cpu)
    return [ExitTimes(label, f"{variable}={value}", *samples[label]) for label, variable, value in CASES]
