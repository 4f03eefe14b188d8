"""The pre-commit hooks pass on a clean copy of the repository, as a fresh clone gets it.

The copy holds what git would check out (tracked files plus new, unignored
ones: no .venv, caches or local state), committed in a new repository; prek
(from the dev group) runs every hook there, and the hooks build the copy's
own environment with `uv run` from the lock, offline from uv's cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.copies import clean_copy

PREK = Path(sys.executable).parent / "prek"
# Variables that would point the copy's `uv run` at this checkout's environment.
INHERITED_ENVIRONMENT = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")


def uv_directory() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.skip("uv not found: neither the UV variable (set by `uv run`) nor `uv` on PATH")
    return str(Path(found).parent)


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_copy(tmp_path_factory.mktemp("precommit") / "repo")


def prek(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in INHERITED_ENVIRONMENT}
    environment |= {
        "PATH": f"{uv_directory()}{os.pathsep}{environment.get('PATH', '')}",
        # The copy's environment on the interpreter running this suite; never a download.
        "UV_PYTHON": str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"),
        "UV_PYTHON_DOWNLOADS": "never",
        "PREK_HOME": str(copy.parent / "prek-home"),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(PREK), *args], cwd=copy, env=environment, capture_output=True, text=True, timeout=600, check=False
    )


def test_every_hook_passes_on_a_clean_copy(copy: Path) -> None:
    result = prek(copy, "run", "--all-files")

    assert result.returncode == 0, result.stdout + result.stderr
    for hook in ("ruff check", "ruff format", "mypy", "uv.lock", "hadolint", "zizmor", "GitHub workflow schema"):
        assert any(hook in line and "Passed" in line for line in result.stdout.splitlines()), result.stdout
    assert (copy / ".venv").is_dir()  # its own environment, built by the hooks' `uv run`


def test_a_hook_fails_on_a_bad_file(copy: Path) -> None:
    """The hooks can fail: ruff refuses eval() (S307, which it cannot fix away)."""
    bad = copy / "service" / "evaluates.py"
    bad.write_text('"""A module that evaluates a string."""\n\nVALUE = eval("1")\n')
    try:
        result = prek(copy, "run", "ruff", "--files", "service/evaluates.py")
    finally:
        bad.unlink()

    assert result.returncode != 0, result.stdout
    assert "S307" in result.stdout
