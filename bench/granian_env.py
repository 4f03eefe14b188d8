"""A throwaway virtual environment under /tmp with granian and the project's locked runtime dependencies.

Never the project's lock: `uv export` reads uv.lock, `uv pip install` fills a
venv that only this benchmark uses (py-spy goes in too, for bench.profile).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(tempfile.gettempdir()) / "bench-granian-venv"  # throwaway, reused between runs
EXTRA = ("granian", "py-spy")


def uv() -> str:
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise SystemExit("uv not found: run the benchmark with `uv run python -m bench`")
    return found


def base_python() -> str:
    """The interpreter behind the project's venv, so both servers run the same Python."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def ensure() -> Path:
    """Create (or reuse) the venv; return its bin directory."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(VENV)}
    env.pop("UV_PROJECT_ENVIRONMENT", None)
    requirements = VENV.parent / "bench-granian-requirements.txt"
    exported = subprocess.run(
        [uv(), "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    requirements.write_text(exported)
    if not (VENV / "bin" / "python").exists():
        subprocess.run([uv(), "venv", "--quiet", "--python", base_python(), str(VENV)], check=True, env=env)
    subprocess.run(
        [uv(), "pip", "install", "--quiet", "--python", str(VENV / "bin" / "python"), "-r", str(requirements), *EXTRA],
        check=True,
        env=env,
    )
    return VENV / "bin"


def version(bin_dir: Path, package: str) -> str:
    result = subprocess.run(
        [str(bin_dir / "python"), "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "?"


def installed_size(bin_dir: Path, package: str) -> tuple[int, int]:
    """(bytes installed, bytes once its extension modules are stripped as the image strips them)."""
    site = next((bin_dir.parent / "lib").glob("python3*/site-packages"))
    files = [path for path in (site / package).rglob("*") if path.is_file()]
    total = sum(path.stat().st_size for path in files)
    strip = shutil.which("strip")
    stripped = total
    if strip:
        stripped = 0
        for path in files:
            if path.suffix == ".so":
                with tempfile.TemporaryDirectory(prefix="bench-strip-") as tmp:
                    copy = Path(tmp) / path.name
                    shutil.copy2(path, copy)
                    subprocess.run([strip, "--strip-unneeded", str(copy)], check=False, capture_output=True)
                    stripped += copy.stat().st_size
            else:
                stripped += path.stat().st_size
    return total, stripped
