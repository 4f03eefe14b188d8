"""Container test fixtures: the engine, a build context with canaries, images built once, compose projects."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.container.engine import ComposeProject, Docker, OpenComposeProject

REPOSITORY = Path(__file__).resolve().parents[2]
TARGETS = ["naive", "slim", "multistage", "alpine", "minimal", "production"]
# Never copied into the test build context: local state that is not source.
LOCAL_STATE = shutil.ignore_patterns(
    ".git", ".venv", ".venvs", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "data"
)


@pytest.fixture(scope="session")
def docker() -> Iterator[Docker]:
    found = Docker.find(session=uuid.uuid4().hex[:12])
    if isinstance(found, str):
        pytest.skip(f"container tests need a Docker engine: {found}")
    try:
        yield found
    finally:
        found.cleanup()


@pytest.fixture(scope="session")
def canary() -> str:
    """A secret-looking token planted in files .dockerignore must keep out of every image."""
    return f"CANARY-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def build_context(tmp_path_factory: pytest.TempPathFactory, canary: str) -> Path:
    """A copy of the repository plus the files a developer really has lying around."""
    context = tmp_path_factory.mktemp("context") / "repo"
    shutil.copytree(REPOSITORY, context, ignore=LOCAL_STATE, symlinks=True)
    planted = {
        ".env": f"SECRET_KEY={canary}\n",
        "production.env": f"DATABASE_PASSWORD={canary}\n",
        "service/.env": f"TOKEN={canary}\n",
        "models/canary-model.bin": canary,
        "data/tasks.db": canary,
        "secrets/database_password": canary,
        ".git/config": f"[credential]\n\thelper = {canary}\n",
    }
    for relative, content in planted.items():
        path = context / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return context


@pytest.fixture(scope="session")
def image(docker: Docker, build_context: Path) -> Iterator[Callable[[str], str]]:
    """image(target) -> tag, building each target once per session."""
    built: dict[str, str] = {}

    def build(target: str) -> str:
        if target not in built:
            tag = f"task-api-test:{target}-{docker.session}"
            docker.build(build_context, target, tag, "REVISION=test-revision", "VERSION=0.0.0-test")
            built[target] = tag
        return built[target]

    yield build
    for tag in built.values():
        docker.run_cli("rmi", tag, check=False)


@pytest.fixture(scope="session")
def production_with_auth(docker: Docker, build_context: Path) -> Iterator[str]:
    """The production image built with the auth extra (token verification), once per session."""
    tag = f"task-api-test:production-auth-{docker.session}"
    docker.build(build_context, "production", tag, "EXTRAS=auth", "REVISION=test-revision", "VERSION=0.0.0-test")
    yield tag
    docker.run_cli("rmi", tag, check=False)


@pytest.fixture
def compose_project(docker: Docker, build_context: Path, tmp_path: Path) -> Iterator[OpenComposeProject]:
    """compose_project(files, environment) -> a project on a fresh copy of the repository, removed afterwards.

    Each project has a unique name; teardown runs `down --volumes` and fails if
    any of its containers, volumes or networks are left. With `builds="label"`,
    the api service builds `task-api-test:<label>-<session>` (through
    compose.test.yaml, which must be among `files`) instead of the image name
    the compose file gives, so a test never replaces a developer's image; that
    image is removed after `down`.
    """
    opened: list[ComposeProject] = []
    built: list[str] = []

    def open_project(
        files: tuple[str, ...], environment: dict[str, str], *, builds: str | None = None
    ) -> ComposeProject:
        directory = tmp_path / f"checkout-{len(opened)}"
        shutil.copytree(build_context, directory, ignore=LOCAL_STATE, symlinks=True)
        name = f"task-api-test-{docker.session}-{uuid.uuid4().hex[:6]}"
        project = ComposeProject(docker, name, directory, files, {**os.environ, **environment})
        opened.append(project)
        if builds is not None:
            assert "compose.test.yaml" in files, "the test image is named in compose.test.yaml"
            image = f"task-api-test:{builds}-{docker.session}"
            (directory / "compose.test.yaml").write_text(f"services:\n  api:\n    image: {image}\n")
            built.append(image)
        return project

    yield open_project
    left = [item for project in opened for item in project.down()]
    for image in built:  # after down: an image in use cannot go
        docker.run_cli("rmi", image, check=False)
    assert left == [], "compose down --volumes left these behind"
