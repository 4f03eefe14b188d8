"""The metrics directory of several workers: prepared once by the parent, or refused with one line naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.observability.multiprocess import VARIABLE, prepare_shared_metrics_directory
from service.settings import Settings
from tests.live import free_port, service_environment


def test_a_configured_directory_is_made_or_emptied_of_metrics_files_only(settings: Settings, tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "histogram_4242.db").write_bytes(b"stale")
    (directory / "README").write_text("not ours")
    environ = {VARIABLE: str(directory)}

    prepared = prepare_shared_metrics_directory(settings.model_copy(update={"workers": 2}), environ)

    assert prepared is not None
    assert prepared.path == directory
    assert sorted(path.name for path in directory.iterdir()) == ["README"]
    prepared.remove()
    assert directory.is_dir()  # the operator's directory stays
    missing = tmp_path / "new" / "metrics"
    prepare_shared_metrics_directory(settings, {VARIABLE: str(missing)})
    assert missing.is_dir()


def test_several_workers_without_one_get_a_directory_for_the_run(settings: Settings) -> None:
    environ: dict[str, str] = {}

    prepared = prepare_shared_metrics_directory(settings.model_copy(update={"workers": 3}), environ)

    assert prepared is not None
    assert prepared.path.is_dir()
    assert environ[VARIABLE] == str(prepared.path)
    prepared.remove()  # what the process does at exit
    assert not prepared.path.exists()


@pytest.mark.parametrize("update", [{"workers": 1}, {"workers": 4, "metrics_enabled": False}], ids=["one", "off"])
def test_one_worker_or_no_metrics_needs_no_directory(settings: Settings, update: dict[str, object]) -> None:
    environ: dict[str, str] = {}

    assert prepare_shared_metrics_directory(settings.model_copy(update=update), environ) is None
    assert environ == {}


def test_an_unusable_directory_stops_start_up_with_one_line_naming_it(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    (tmp_path / "models").mkdir()
    environment = service_environment(
        PORT=str(free_port()),
        WORKERS="2",
        DATABASE_URL=f"sqlite:///{tmp_path}/tasks.db",
        MODELS_DIR=str(tmp_path / "models"),
        PROMETHEUS_MULTIPROC_DIR=str(not_a_directory),
    )

    result = subprocess.run(
        [sys.executable, "-m", "service"], env=environment, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 2
    assert result.stderr.startswith("error: PROMETHEUS_MULTIPROC_DIR: cannot prepare ")
    assert len(result.stderr.strip().splitlines()) == 1
