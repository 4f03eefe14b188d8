"""The deployable images on PostgreSQL: the binary driver loads, `python -m service migrate` works, they serve.

The containers share the host's network namespace (--network host) and reach
the test session's PostgreSQL on 127.0.0.1; the service in them listens on
127.0.0.1 too. No traffic goes to any other address.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.container.engine import LABEL, Docker
from tests.live import free_port
from tests.postgres import LocalPostgres

pytestmark = pytest.mark.container

DEPLOYABLE = ["production", "minimal"]


@pytest.fixture
def empty_database(postgres: LocalPostgres) -> Iterator[str]:
    name = postgres.create_database()
    yield postgres.url(name)
    postgres.drop_database(name)


def run_once(docker: Docker, image: str, *arguments: str, command: tuple[str, ...]) -> tuple[int, str, str]:
    """`docker run --rm` on the host network, to completion."""
    result = docker.run_cli(
        "run", "--rm", "--label", f"{LABEL}={docker.session}", "--network", "host", "--read-only",
        *arguments, image, *command,
        check=False, timeout=120,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_psycopg_runs_its_binary_implementation(docker: Docker, image: Callable[[str], str], target: str) -> None:
    code, stdout, stderr = run_once(
        docker, image(target), command=("python", "-c", "import psycopg; print(psycopg.pq.__impl__)")
    )

    assert (code, stdout.strip()) == (0, "binary"), stderr


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_migrate_then_serve_on_postgresql(
    docker: Docker, image: Callable[[str], str], target: str, empty_database: str
) -> None:
    settings = ("-e", f"DATABASE_URL={empty_database}", "-e", "HOST=127.0.0.1")
    migrate = ("python", "-m", "service", "migrate")

    first = run_once(docker, image(target), *settings, command=migrate)
    again = run_once(docker, image(target), *settings, command=migrate)
    port = free_port()
    container = docker.run_cli(
        "run", "-d", "--label", f"{LABEL}={docker.session}", "--network", "host", "--read-only",
        "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",  # noqa: S108
        *settings, "-e", f"PORT={port}", image(target),
    ).stdout.strip()  # fmt: skip
    docker.created_containers.append(container)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    created = httpx.post(f"{base_url}/tasks", json={"title": f"{target} on PostgreSQL"})
    fetched = httpx.get(f"{base_url}/tasks/{created.json()['id']}")
    ready = httpx.get(f"{base_url}/ready")

    assert first[0] == 0, first[2]
    assert [json.loads(line)["event"] for line in first[1].splitlines()] == ["schema_migrated"]
    assert again[0] == 0, again[2]
    assert [json.loads(line)["event"] for line in again[1].splitlines()] == ["schema_up_to_date"]
    assert created.status_code == 201
    assert fetched.json() == created.json()
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok", "models": "ok"}}


def test_migrate_on_the_sqlite_volume_is_idempotent(docker: Docker, image: Callable[[str], str]) -> None:
    volume = ("-v", f"{docker.volume()}:/data")
    command = ("python", "-m", "service", "migrate")

    first = run_once(docker, image("production"), *volume, command=command)
    again = run_once(docker, image("production"), *volume, command=command)

    assert (first[0], again[0]) == (0, 0), first[2] + again[2]
    assert json.loads(first[1])["after"] == json.loads(again[1])["revision"]
