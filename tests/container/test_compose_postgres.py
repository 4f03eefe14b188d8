"""compose.postgres.yaml: PostgreSQL, one migration run, three replicas sharing the data, the password in a file only.

Runs the README's commands on a copy of the repository: the secret file made
with its one command, then `up --wait --scale api=3` on compose.yaml plus the
override (and a test file naming the session's production image). Every
request goes to the replicas' ports published on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.container.engine import ComposeProject, Container, Docker
from tests.live import free_port

pytestmark = pytest.mark.container

REPOSITORY = Path(__file__).resolve().parents[2]
FILES = ("compose.yaml", "compose.postgres.yaml")
REPLICAS = 3
# The README's one command for a fresh clone (checked to be there, verbatim).
SETUP_COMMAND = (
    "mkdir -p -m 700 secrets && "
    'python3 -c "import secrets; print(secrets.token_urlsafe(32))" > secrets/database_password && '
    "chmod 644 secrets/database_password"
)


def free_port_range(count: int) -> int:
    """The first of `count` consecutive loopback ports that are free right now."""
    for _ in range(100):
        first = free_port()
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports on 127.0.0.1")


def wait_for_status(url: str, status: int, timeout: float = 60) -> httpx.Response:
    """GET url until it answers `status`; the last response (or the error) once the hang guard expires."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == status or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def volumes(container: Container) -> list[str]:
    """Where volumes (named or anonymous, not binds or tmpfs) are mounted in the container."""
    mounts = json.loads(container.inspect("{{json .Mounts}}"))
    return [mount["Destination"] for mount in mounts if mount["Type"] == "volume"]


@pytest.fixture
def stack(
    image: Callable[[str], str], compose_project: Callable[[tuple[str, ...], dict[str, str]], ComposeProject]
) -> ComposeProject:
    first = free_port_range(REPLICAS)
    project = compose_project((*FILES, "compose.test.yaml"), {"API_PORTS": f"{first}-{first + REPLICAS - 1}"})
    # The session's production image (built once) for both services, so the test builds nothing itself.
    tag = image("production")
    (project.directory / "compose.test.yaml").write_text(
        f"services:\n  api:\n    image: {tag}\n  migrate:\n    image: {tag}\n"
    )
    return project


@pytest.fixture
def password(stack: ComposeProject) -> str:
    subprocess.run(["sh", "-c", SETUP_COMMAND], cwd=stack.directory, check=True, timeout=30)
    return (stack.directory / "secrets" / "database_password").read_text().strip()


def test_three_replicas_share_postgresql_and_recover_from_a_database_restart(
    stack: ComposeProject, password: str, docker: Docker
) -> None:
    merged = json.loads(dataclasses.replace(stack, files=FILES).run("config", "--format", "json").stdout)
    stack.run("up", "--detach", "--wait", "--wait-timeout", "120", "--scale", f"api={REPLICAS}")
    replicas = stack.containers("api")
    urls = [replica.base_url for replica in replicas]
    created = httpx.post(f"{urls[0]}/tasks", json={"title": "written through the first replica"})
    task_url = f"/tasks/{created.json()['id']}"
    read_elsewhere = [httpx.get(url + task_url).json() for url in urls[1:]]
    started = [replica.inspect("{{.State.StartedAt}}") for replica in replicas]

    stack.run("stop", "db")
    while_down = [httpx.get(url + task_url) for url in urls]
    ready_while_down = httpx.get(f"{urls[0]}/ready").json()
    stack.run("start", "db")
    recovered = [wait_for_status(url + task_url, 200) for url in urls]

    assert SETUP_COMMAND in (REPOSITORY / "README.md").read_text()
    # Scaled and shared: three healthy replicas on three loopback ports, one database.
    assert merged["services"]["migrate"]["image"] == merged["services"]["api"]["image"]
    assert len(set(urls)) == REPLICAS
    assert [replica.inspect("{{.State.Health.Status}}") for replica in replicas] == ["healthy"] * REPLICAS
    assert created.status_code == 201
    assert read_elsewhere == [created.json()] * (REPLICAS - 1)
    # The outage: 503 with Retry-After and a reason, then recovery with no api restart.
    assert [(response.status_code, response.headers.get("retry-after")) for response in while_down] == [
        (503, "1")
    ] * REPLICAS
    assert ready_while_down["checks"]["database"].startswith("unavailable")
    assert [response.json() for response in recovered] == [created.json()] * REPLICAS
    assert [replica.inspect("{{.State.StartedAt}}") for replica in replicas] == started
    assert [replica.inspect("{{.RestartCount}}") for replica in replicas] == ["0"] * REPLICAS
    # One migration, run once, successfully.
    (migrate,) = stack.containers("migrate")
    assert migrate.inspect("{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}") == "exited 0 0"
    assert [json.loads(line)["event"] for line in migrate.logs().splitlines()] == ["schema_migrated"]
    # The password is in the secret file only: no container's configuration or logs hold it.
    containers = stack.containers()
    assert len(containers) == REPLICAS + 2
    for container in containers:
        inspected = docker.run_cli("inspect", container.id).stdout
        environment = json.loads(inspected)[0]["Config"]["Env"]
        assert [variable for variable in environment if password in variable] == []
        assert password not in inspected
        assert password not in container.logs()
    # Hardening: the api's, on the migration too; a process limit everywhere; no SQLite volume.
    (db,) = stack.containers("db")
    for container in [*replicas, migrate]:
        host = json.loads(container.inspect("{{json .HostConfig}}"))
        assert (host["ReadonlyRootfs"], host["CapDrop"], host["PidsLimit"]) == (True, ["ALL"], 128)
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert host["Memory"] == 256 * 1024**2
        assert volumes(container) == []
    assert db.inspect("{{.HostConfig.PidsLimit}}") == "256"
    assert volumes(db) == ["/var/lib/postgresql/data"]
