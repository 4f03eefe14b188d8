"""The metrics directory worker processes share (PROMETHEUS_MULTIPROC_DIR), prepared by the process that starts them.

prometheus-client turns multiprocess mode on when PROMETHEUS_MULTIPROC_DIR is
set (it reads it once, at import) and then keeps each process's values in
files there. Files left by an earlier run would be added to this run's counts,
so the directory is emptied once, before any worker starts, and never by a
worker (it would erase the others' counts). It must be writable under a
read-only root: /tmp (the tmpfs in compose.yaml, an emptyDir in Kubernetes)
or a volume of its own.

- PROMETHEUS_MULTIPROC_DIR set: that directory, created if missing and emptied
  of metrics files.
- Not set, WORKERS > 1: a fresh directory under TMPDIR (default /tmp), set for
  the workers and removed when the server exits.
- Not set, one worker: nothing; the metrics live in that process's memory.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path

from service.settings import InvalidSettings, Settings

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def shared_metrics_directory(
    settings: Settings, environ: MutableMapping[str, str] = os.environ
) -> Iterator[Path | None]:
    """The directory the workers will use (None: not needed); exits 2 with one line when it cannot work."""
    try:
        directory, created = _prepare(settings, environ)
    except InvalidSettings as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        yield directory
    finally:
        if created and directory is not None:
            environ.pop(VARIABLE, None)
            shutil.rmtree(directory, ignore_errors=True)


def _prepare(settings: Settings, environ: MutableMapping[str, str]) -> tuple[Path | None, bool]:
    configured = environ.get(VARIABLE)
    if not settings.metrics_enabled:
        return None, False
    if configured is not None:
        if not configured.strip():
            raise InvalidSettings(f"{VARIABLE}: empty; give a writable directory or unset it")
        directory = Path(configured)
        _empty(directory)
        return directory, False
    if settings.workers == 1:
        return None, False
    try:
        directory = Path(tempfile.mkdtemp(prefix="task-api-metrics-"))
    except OSError as exc:
        raise InvalidSettings(
            f"{VARIABLE}: WORKERS={settings.workers} needs a writable directory for the workers' metrics and "
            f"none could be made under {tempfile.gettempdir()} ({exc}); set {VARIABLE} or TMPDIR"
        ) from None
    environ[VARIABLE] = str(directory)
    return directory, True


def _empty(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        # Only prometheus-client's own files: the directory may be a mount point shared with other things.
        for stale in directory.glob("*.db"):
            stale.unlink()
    except OSError as exc:
        raise InvalidSettings(f"{VARIABLE}: cannot prepare {directory}: {exc}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidSettings(f"{VARIABLE}: {directory} is not writable")
