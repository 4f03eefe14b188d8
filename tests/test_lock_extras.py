"""The optional extras the image can install (docker/Dockerfile, ARG EXTRAS) have musllinux wheels too.

Same check as tests/test_lock.py for the runtime dependencies, with every extra
of pyproject.toml installed: `--build-arg EXTRAS=...` must never make real
Alpine compile anything. Skips, with the reason, when the index is unreachable.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.test_lock import MUSL_PLATFORMS, REPO_ROOT, musllinux_wheel_check, packages_without_wheels, run_uv

EXTRAS = sorted(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])


def test_the_image_extras_exist() -> None:
    assert {"otel", "auth"} <= set(EXTRAS)


@pytest.mark.parametrize("platform", MUSL_PLATFORMS, ids=lambda platform: platform.split("-")[0])
def test_every_extra_has_musllinux_wheels(platform: str, tmp_path: Path) -> None:
    extras = [argument for extra in EXTRAS for argument in ("--extra", extra)]
    exported = run_uv("export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet", *extras)
    assert exported.returncode == 0, exported.stderr
    requirements = tmp_path / "with-extras.txt"
    requirements.write_text(exported.stdout)

    result = musllinux_wheel_check(requirements, platform)

    assert result.returncode == 0, (
        f"with the extras {EXTRAS}, no binary wheel for {platform}: "
        f"{', '.join(packages_without_wheels(result.stderr)) or '(see uv output)'}\n{result.stderr}"
    )
    resolved = {line.split("==")[0] for line in result.stdout.splitlines() if "==" in line}
    assert {"opentelemetry-sdk", "pyjwt", "cryptography"} <= resolved
