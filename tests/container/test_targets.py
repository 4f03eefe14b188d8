"""Every Dockerfile target builds and serves; nothing from .dockerignore leaks; budgets and layer caching hold."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bench import buildkit
from tests.container.conftest import LOCAL_STATE, TARGETS
from tests.container.engine import Docker

pytestmark = pytest.mark.container

# production's own layers (image minus python:3.12-alpine) measured 59.9 MB on
# the stand-in bases (2026-12-02, `docker image inspect` sizes; 44.2 MB before):
# PostgreSQL support added psycopg-binary (its bundled libpq, OpenSSL, Kerberos
# and LDAP libraries: 9.6 MB), psycopg, alembic and mako. Budget = that + 10%.
PRODUCTION_OWN_LAYERS_BUDGET = 65_900_000
MINIMAL_TO_PRODUCTION_MAX_RATIO = 0.75


@pytest.mark.parametrize("target", TARGETS)
def test_target_builds_and_answers_health(docker: Docker, image: Callable[[str], str], target: str) -> None:
    container = docker.start(image(target))

    base_url = container.wait_for_http()

    assert httpx.get(f"{base_url}/health").json() == {"status": "ok"}
    created = httpx.post(f"{base_url}/tasks", json={"title": f"from {target}"})
    assert created.status_code == 201


@pytest.mark.parametrize("target", TARGETS)
def test_nothing_dockerignore_excludes_reaches_the_image(
    docker: Docker, image: Callable[[str], str], canary: str, target: str
) -> None:
    leaks = []
    for member, content in docker.exported_files(image(target)):
        name = "/" + member.name.lstrip("./")
        if canary.encode() in content:
            leaks.append(f"{name} contains the canary")
        if re.search(r"/(\.env|[^/]*\.env|canary-model\.bin|\.git)$", name) or name.endswith("/data/tasks.db"):
            leaks.append(name)
    assert leaks == []


def test_production_own_layers_stay_within_budget(docker: Docker, image: Callable[[str], str]) -> None:
    own = docker.image_size(image("production")) - docker.image_size("python:3.12-alpine")

    assert own <= PRODUCTION_OWN_LAYERS_BUDGET, f"production adds {own / 1e6:.1f} MB to its base"


def test_minimal_is_at_most_three_quarters_of_production(docker: Docker, image: Callable[[str], str]) -> None:
    ratio = docker.image_size(image("minimal")) / docker.image_size(image("production"))

    assert ratio <= MINIMAL_TO_PRODUCTION_MAX_RATIO, f"minimal/production = {ratio:.3f}"


def test_production_carries_oci_labels(docker: Docker, image: Callable[[str], str]) -> None:
    labels = docker.image_config(image("production"))["Labels"]

    assert isinstance(labels, dict)
    assert labels["org.opencontainers.image.title"] == "task-api"
    assert labels["org.opencontainers.image.revision"] == "test-revision"
    assert labels["org.opencontainers.image.version"] == "0.0.0-test"
    for key in ("description", "source", "licenses", "created"):
        assert labels[f"org.opencontainers.image.{key}"]


def test_code_change_rebuilds_without_reinstalling_dependencies(
    docker: Docker, image: Callable[[str], str], build_context: Path, tmp_path: Path
) -> None:
    image("production")  # the first build, which the second may reuse
    context = tmp_path / "repo"
    shutil.copytree(build_context, context, ignore=LOCAL_STATE, symlinks=True)
    with (context / "service" / "__init__.py").open("a") as module:
        # Unique, so no earlier run's cache can already hold this layer.
        module.write(f"# a code-only change {uuid.uuid4()}\n")

    rebuild = docker.build(context, "production", f"task-api-test:rebuild-{docker.session}")
    docker.run_cli("rmi", f"task-api-test:rebuild-{docker.session}", check=False)

    dependency_steps = buildkit.cached(rebuild.stderr, "uv sync")
    code_steps = buildkit.cached(rebuild.stderr, "COPY service ./service")
    assert dependency_steps
    assert all(dependency_steps), rebuild.stderr[-3000:]
    assert code_steps
    assert not any(code_steps), rebuild.stderr[-3000:]
