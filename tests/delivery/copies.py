"""A copy of the repository as a fresh clone would hold it, for tests that change or run a whole tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def clean_copy(destination: Path) -> Path:
    """Tracked files plus new, unignored ones (no .venv, caches or local state), committed in a fresh repository."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPOSITORY)
    for relative in filter(None, listed.split("\0")):
        source = REPOSITORY / relative
        if source.is_file() or source.is_symlink():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    git("init", "--quiet", "--initial-branch=main", cwd=destination)
    git("add", "--all", cwd=destination)
    identity = ("-c", "user.name=test", "-c", "user.email=test@example.invalid")
    git(*identity, "commit", "--quiet", "--message", "copy", cwd=destination)
    return destination
