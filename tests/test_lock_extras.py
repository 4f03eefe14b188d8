"""The image's optional extras (ARG EXTRAS) install from musllinux wheels too: EXTRAS=auth compiles nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_lock import MUSL_PLATFORMS, musllinux_wheel_check, packages_without_wheels, run_uv

EXTRAS = ["auth"]


@pytest.mark.parametrize("extra", EXTRAS)
@pytest.mark.parametrize("platform", MUSL_PLATFORMS, ids=lambda platform: platform.split("-")[0])
def test_extra_dependencies_have_musllinux_wheels(extra: str, platform: str, tmp_path: Path) -> None:
    exported = run_uv("export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet", "--extra", extra)
    assert exported.returncode == 0, exported.stderr
    requirements = tmp_path / f"{extra}.txt"
    requirements.write_text(exported.stdout)

    result = musllinux_wheel_check(requirements, platform)

    assert result.returncode == 0, (
        f"the {extra!r} extra has dependencies without a binary wheel for {platform}: "
        f"{', '.join(packages_without_wheels(result.stderr)) or '(see uv output)'}\n{result.stderr}"
    )
    assert {"pyjwt", "cryptography"} <= {line.split("==")[0] for line in result.stdout.splitlines()}
