"""scripts/rename.py renames the deployable in a fork: no old name left in what deploys, and the tests still pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.delivery.copies import REPOSITORY, clean_copy

NEW_NAME = "acme-orders"
# What builds, runs and deploys the service; none of it may keep the old name.
DEPLOYED = ["docker/Dockerfile", "compose.yaml", "compose.dev.yaml", "deploy", ".github", "pyproject.toml"]


def project_name(root: Path) -> str:
    with (root / "pyproject.toml").open("rb") as pyproject:
        name: str = tomllib.load(pyproject)["project"]["name"]
    return name


OLD_NAME = project_name(REPOSITORY)


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        list(command), cwd=cwd, env=environment, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = clean_copy(tmp_path_factory.mktemp("rename") / "repo")
    result = run(sys.executable, "scripts/rename.py", NEW_NAME, "--title", "Acme Orders", cwd=copy)
    assert result.returncode == 0, result.stderr
    return copy


def files_under(root: Path, names: list[str]) -> list[Path]:
    paths = [root / name for name in names]
    return [
        file for path in paths for file in ([path] if path.is_file() else sorted(path.rglob("*"))) if file.is_file()
    ]


def test_nothing_that_deploys_keeps_the_old_name(renamed: Path) -> None:
    spellings = {OLD_NAME, OLD_NAME.replace("-", "_"), OLD_NAME.replace("-", "_").upper()}
    pattern = re.compile("|".join(re.escape(spelling) for spelling in spellings))

    left = [
        f"{path.relative_to(renamed)}: {line.strip()}"
        for path in files_under(renamed, DEPLOYED)
        for line in path.read_text().splitlines()
        if pattern.search(line)
    ]

    assert left == []


def test_names_and_labels_carry_the_new_name(renamed: Path) -> None:
    compose = yaml.safe_load((renamed / "compose.yaml").read_text())
    kubernetes = renamed / "deploy" / "kubernetes"
    deployment = yaml.safe_load((kubernetes / "base" / "deployment.yaml").read_text())
    migrate_job = yaml.safe_load((kubernetes / "postgresql" / "migrate" / "job.yaml").read_text())
    cloud_run = yaml.safe_load((renamed / "deploy" / "cloud-run" / "service.yaml").read_text())
    cloud_run_job = yaml.safe_load((renamed / "deploy" / "cloud-run" / "migrate-job.yaml").read_text())
    dockerfile = (renamed / "docker" / "Dockerfile").read_text()

    assert project_name(renamed) == NEW_NAME
    assert compose["name"] == NEW_NAME
    assert compose["services"]["api"]["image"] == f"{NEW_NAME}:latest"
    assert deployment["metadata"]["name"] == NEW_NAME
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == NEW_NAME
    assert migrate_job["metadata"]["name"] == f"{NEW_NAME}-migrate"
    assert migrate_job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == f"{NEW_NAME}-migrate"
    assert cloud_run["metadata"]["name"] == NEW_NAME
    assert cloud_run_job["metadata"]["name"] == f"{NEW_NAME}-migrate"
    assert f'org.opencontainers.image.title="{NEW_NAME}"' in dockerfile
    assert (renamed / "service" / "__init__.py").exists()  # the Python package keeps its name


def test_the_renamed_copy_passes_its_deploy_and_contract_tests(renamed: Path) -> None:
    imported = run(sys.executable, "-c", "import service; print(service.__file__)", cwd=renamed)
    assert Path(imported.stdout.strip()).is_relative_to(renamed), imported.stdout  # the copy's code, not ours

    result = run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/deploy", "tests/api", cwd=renamed
    )

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout


def test_the_renamed_lock_still_matches_the_project(renamed: Path) -> None:
    uv = os.environ.get("UV")
    if not uv:
        pytest.skip("uv not found (the UV variable is set by `uv run`)")

    result = run(uv, "lock", "--check", "--offline", cwd=renamed)

    assert result.returncode == 0, result.stderr


def test_a_bad_name_is_refused(tmp_path: Path) -> None:
    result = run(sys.executable, str(REPOSITORY / "scripts" / "rename.py"), "Acme_Orders", "--dry-run", cwd=tmp_path)

    assert result.returncode == 2
    assert "not a valid name" in result.stderr
