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

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from service.settings import InvalidSettings, Settings

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True)
class MetricsDirectory:
    path: Path
    created: bool  # made for this run: removed at exit

    def remove(self) -> None:
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)


def prepare_shared_metrics_directory(
    settings: Settings, environ: MutableMapping[str, str] = os.environ
) -> MetricsDirectory | None:
    """Call in the process that starts the workers, before any starts; exits 2 with one line when it cannot work.

    None when no directory is needed. One made for this run is removed when the process exits.
    """
    try:
        directory = _prepare(settings, environ)
    except InvalidSettings as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if directory is not None and directory.created:
        atexit.register(directory.remove)
    return directory


def _prepare(settings: Settings, environ: MutableMapping[str, str]) -> MetricsDirectory | None:
    configured = environ.get(VARIABLE)
    if not settings.metrics_enabled:
        return None
    if configured is not None:
        if not configured.strip():
            raise InvalidSettings(f"{VARIABLE}: empty; give a writable directory or unset it")
        directory = Path(configured)
        _empty(directory)
        return MetricsDirectory(directory, created=False)
    if settings.workers == 1:
        return None
    try:
        directory = Path(tempfile.mkdtemp(prefix="task-api-metrics-"))
    except OSError as exc:
        raise InvalidSettings(
            f"{VARIABLE}: WORKERS={settings.workers} needs a writable directory for the workers' metrics and "
            f"none could be made under {tempfile.gettempdir()} ({exc}); set {VARIABLE} or TMPDIR"
        ) from None
    environ[VARIABLE] = str(directory)
    return MetricsDirectory(directory, created=True)


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
