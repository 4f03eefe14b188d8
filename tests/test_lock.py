"""The lock file against what is built from it.

- docker/requirements.txt (installed by the pip-based image targets) is an
  export of uv.lock and must not drift from it.
- "Alpine honesty": every locked runtime dependency must install from a
  binary wheel on musllinux (x86_64 and aarch64), so the alpine and
  production targets never compile anything on real Alpine; the same for
  the dev group, which the Alpine `dev` target installs. The local
  `python:*-alpine` stand-in is glibc-based and picks manylinux wheels, so
  building the image here cannot prove that; uv's platform targeting can.

The musllinux checks resolve against PyPI; without it they skip, with the
reason, instead of failing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "docker" / "requirements.txt"
EXPORT_COMMAND = ["export", "--frozen", "--no-dev", "--no-emit-project", "--quiet"]
REGENERATE = "uv export --frozen --no-dev --no-emit-project --quiet > docker/requirements.txt"

MUSL_PLATFORMS = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"]
PYTHON_VERSION = "3.12"  # the images' Python (ARG PYTHON_VERSION in docker/Dockerfile)

# Fragments of uv's error chain when the index cannot be reached at all
# (connection refused, DNS failure, proxy tunnel failure, timeout). A
# resolution failure ("No solution found") contains none of them.
NETWORK_ERRORS = (
    "error sending request for url",
    "client error (Connect)",
    "tcp connect error",
    "dns error",
    "tunnel error",
    "Connection refused",
    "Network is unreachable",
    "operation timed out",
)


def uv_executable() -> str:
    """uv from `uv run` (which sets UV), else from PATH; skip when there is none."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.skip("uv not found: neither the UV variable (set by `uv run`) nor `uv` on PATH")
    return found


def run_uv(*args: str) -> subprocess.CompletedProcess[str]:
    """Run uv from the repository root (so the project's [tool.uv] settings apply)."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
    return subprocess.run(
        [uv_executable(), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def musllinux_wheel_check(requirements: Path, platform: str) -> subprocess.CompletedProcess[str]:
    """Resolve `requirements` for `platform` with binary wheels only.

    `--only-binary :all:` makes a version without a wheel whose tags match the
    target (musllinux_1_x_<arch>, cp312/abi3/none) unusable, so such a package
    fails the resolution with "has no usable wheels". Skips when the index is
    unreachable.
    """
    result = run_uv(
        "pip",
        "compile",
        str(requirements),
        "--python-platform",
        platform,
        "--python-version",
        PYTHON_VERSION,
        "--only-binary",
        ":all:",
        "--no-header",
        "--quiet",
    )
    if result.returncode != 0 and any(fragment in result.stderr for fragment in NETWORK_ERRORS):
        pytest.skip(f"package index unreachable, cannot check musllinux wheels: {result.stderr.strip()[-300:]}")
    return result


def packages_without_wheels(stderr: str) -> list[str]:
    """The packages uv's resolution error names as having no usable wheel."""
    return sorted(set(re.findall(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:==\S+)? has no usable wheels", stderr)))


def test_requirements_file_matches_the_lock() -> None:
    result = run_uv(*EXPORT_COMMAND)
    assert result.returncode == 0, f"`uv {' '.join(EXPORT_COMMAND)}` failed:\n{result.stderr}"
    assert REQUIREMENTS.read_text() == result.stdout, (
        "docker/requirements.txt is out of date with uv.lock; regenerate it from the repository root with:\n"
        f"    {REGENERATE}"
    )


# What each Alpine image installs: production the runtime dependencies, the
# `dev` target those plus the dev group (not the manylinux-only lint group).
IMAGE_GROUPS = {"production": ("--no-dev",), "dev": ("--group", "dev")}


@pytest.mark.parametrize("image", list(IMAGE_GROUPS))
@pytest.mark.parametrize("platform", MUSL_PLATFORMS, ids=lambda platform: platform.split("-")[0])
def test_image_dependencies_have_musllinux_wheels(image: str, platform: str, tmp_path: Path) -> None:
    exported = run_uv("export", "--frozen", *IMAGE_GROUPS[image], "--no-emit-project", "--no-hashes", "--quiet")
    assert exported.returncode == 0, exported.stderr
    requirements = tmp_path / "runtime.txt"
    requirements.write_text(exported.stdout)

    result = musllinux_wheel_check(requirements, platform)

    assert result.returncode == 0, (
        f"locked runtime dependencies without a binary wheel for {platform} (Python {PYTHON_VERSION}): "
        f"{', '.join(packages_without_wheels(result.stderr)) or '(see uv output)'}; they would be compiled "
        f"from source on Alpine (no compiler there: the alpine and production targets would break).\n{result.stderr}"
    )
    resolved = {line.split("==")[0] for line in result.stdout.splitlines() if "==" in line}
    locked = {line.split("==")[0] for line in exported.stdout.splitlines() if "==" in line}
    # A package behind an environment marker (colorama on Windows, say) may drop out on Linux.
    unconditional = {line.split("==")[0] for line in exported.stdout.splitlines() if "==" in line and ";" not in line}
    assert unconditional <= resolved <= locked, (
        f"resolution for {platform} differs from the lock: {sorted((unconditional - resolved) | (resolved - locked))}"
    )


@pytest.mark.parametrize("platform", MUSL_PLATFORMS, ids=lambda platform: platform.split("-")[0])
def test_postgresql_driver_installs_its_binary_implementation_on_musllinux(platform: str, tmp_path: Path) -> None:
    """psycopg[binary] resolves to psycopg-binary (libpq bundled) on Alpine: no libpq or compiler from apk."""
    exported = run_uv("export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet")
    assert exported.returncode == 0, exported.stderr
    pinned = [line.split(";")[0].strip() for line in exported.stdout.splitlines() if line.startswith("psycopg")]
    requirements = tmp_path / "psycopg.txt"
    requirements.write_text("\n".join(pinned) + "\n")

    result = musllinux_wheel_check(requirements, platform)

    assert result.returncode == 0, f"no musllinux wheel for {platform}:\n{result.stderr}"
    resolved = {line.split("==")[0] for line in result.stdout.splitlines() if "==" in line}
    assert {"psycopg", "psycopg-binary"} <= resolved, result.stdout


def test_musllinux_check_rejects_a_source_only_package(tmp_path: Path) -> None:
    """The check can fail: docopt 0.6.2 is published as an sdist only."""
    requirements = tmp_path / "sdist-only.txt"
    requirements.write_text("docopt==0.6.2\n")

    result = musllinux_wheel_check(requirements, MUSL_PLATFORMS[0])

    assert result.returncode == 1, result.stderr
    assert packages_without_wheels(result.stderr) == ["docopt"], result.stderr


def test_musllinux_check_is_per_architecture(tmp_path: Path) -> None:
    """PyYAML 6.0.1 has a cp312 musllinux wheel for x86_64 but not for aarch64: only aarch64 fails."""
    requirements = tmp_path / "x86-only.txt"
    requirements.write_text("pyyaml==6.0.1\n")

    x86_64 = musllinux_wheel_check(requirements, "x86_64-unknown-linux-musl")
    aarch64 = musllinux_wheel_check(requirements, "aarch64-unknown-linux-musl")

    assert x86_64.returncode == 0, x86_64.stderr
    assert aarch64.returncode == 1, aarch64.stderr
    assert packages_without_wheels(aarch64.stderr) == ["pyyaml"], aarch64.stderr
