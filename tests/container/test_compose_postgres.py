"""compose.postgres.yaml: PostgreSQL, one migration, three replicas sharing data behind auth, the password in a file.

Runs the README's commands on a copy of the repository: the secret file made
with its one command, AUTH_ISSUER and AUTH_AUDIENCE in .env, then `up --wait
--scale api=3` on compose.yaml plus the override (and a test file naming the
session's production image built with the auth extra). Each replica serves the
test issuer's keys on its own loopback (tests/container/inside_issuer.py); every
request goes to the replicas' ports published on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.container.engine import ComposeProject, Container, Docker, OpenComposeProject
from tests.container.inside_issuer import ISSUER_URL, MIN_REFRESH_SECONDS, first_answer_with_keys, serve_issuer_inside
from tests.issuer import AUDIENCE, TestIssuer, bearer
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


def wait_for_status(url: str, status: int, headers: dict[str, str], timeout: float = 60) -> httpx.Response:
    """GET url until it answers `status`; the last response (or the error) once the hang guard expires."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = httpx.get(url, headers=headers, timeout=5)
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
def stack(production_with_auth: str, compose_project: OpenComposeProject) -> ComposeProject:
    first = free_port_range(REPLICAS)
    project = compose_project((*FILES, "compose.test.yaml"), {"API_PORTS": f"{first}-{first + REPLICAS - 1}"})
    # The session's production image with the auth extra (built once) for both services: the test builds nothing.
    (project.directory / "compose.test.yaml").write_text(
        f"services:\n  api:\n    image: {production_with_auth}\n  migrate:\n    image: {production_with_auth}\n"
    )
    # Where a deployment puts its issuer: .env, read by compose (interpolation) and passed to the api.
    with (project.directory / ".env").open("a") as env_file:
        env_file.write(
            f"AUTH_ISSUER={ISSUER_URL}\nAUTH_AUDIENCE={AUDIENCE}\nAUTH_JWKS_MIN_REFRESH_SECONDS={MIN_REFRESH_SECONDS}\n"
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
    issuer = TestIssuer(url=ISSUER_URL)  # never started here: it only mints the tokens
    reader_token, writer_token = issuer.token(scope="tasks:read"), issuer.token(scope="tasks:write")
    reader, writer = bearer(reader_token), bearer(writer_token)
    with httpx.Client(timeout=10) as client:
        for replica in replicas:
            serve_issuer_inside(replica, issuer)
        # Each replica's start-up key fetch ran before its issuer was served: wait (boundedly) for a refetch.
        with_keys = [first_answer_with_keys(client, f"{url}/tasks", reader).status_code for url in urls]
        anonymous = [client.post(f"{url}/tasks", json={"title": "no token"}) for url in urls]
        created = client.post(f"{urls[0]}/tasks", json={"title": "written through the first replica"}, headers=writer)
        task_url = f"/tasks/{created.json()['id']}"
        read_elsewhere = [client.get(url + task_url, headers=reader).json() for url in urls[1:]]
    started = [replica.inspect("{{.State.StartedAt}}") for replica in replicas]

    stack.run("stop", "db")
    while_down = [httpx.get(url + task_url, headers=reader) for url in urls]
    ready_while_down = httpx.get(f"{urls[0]}/ready").json()
    stack.run("start", "db")
    recovered = [wait_for_status(url + task_url, 200, reader) for url in urls]

    assert SETUP_COMMAND in (REPOSITORY / "README.md").read_text()
    # Auth on: the extra built in, the issuer from .env on the api only, every replica refusing anonymous writes.
    assert merged["services"]["api"]["build"]["args"]["EXTRAS"] == "auth"
    assert (
        merged["services"]["api"]["environment"]["AUTH_ISSUER"],
        merged["services"]["api"]["environment"]["AUTH_AUDIENCE"],
    ) == (ISSUER_URL, AUDIENCE)
    assert [name for name in merged["services"]["migrate"]["environment"] if name.startswith("AUTH_")] == []
    assert with_keys == [200] * REPLICAS
    assert [(response.status_code, response.headers["www-authenticate"]) for response in anonymous] == [
        (401, 'Bearer realm="task-api"')
    ] * REPLICAS
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
    # The password is in the secret file only: no container's configuration or logs hold it; nor do they the tokens.
    containers = stack.containers()
    assert len(containers) == REPLICAS + 2
    for container in containers:
        inspected = docker.run_cli("inspect", container.id).stdout
        environment = json.loads(inspected)[0]["Config"]["Env"]
        logs = container.logs()
        assert [variable for variable in environment if password in variable] == []
        assert password not in inspected
        assert password not in logs
        assert (reader_token in logs, writer_token in logs) == (False, False)
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


def test_the_override_refuses_to_run_without_an_issuer_and_an_audience(
    compose_project: OpenComposeProject,
) -> None:
    project = compose_project(FILES, {})
    env_path = project.directory / ".env"
    settings = env_path.read_text() if env_path.exists() else ""
    without_either = project.run("config", "--quiet", check=False)
    # One missing at a time: with both missing, compose names either one first (its order varies).
    env_path.write_text(settings + "AUTH_AUDIENCE=task-api\n")
    without_issuer = project.run("config", "--quiet", check=False)
    env_path.write_text(settings + "AUTH_ISSUER=https://login.example.com/realms/example\n")
    without_audience = project.run("config", "--quiet", check=False)
    env_path.write_text(settings)
    local = json.loads(dataclasses.replace(project, files=("compose.yaml",)).run("config", "--format", "json").stdout)

    assert without_either.returncode != 0
    assert "required variable AUTH_" in without_either.stderr
    assert without_issuer.returncode != 0
    assert "required variable AUTH_ISSUER is missing a value: set AUTH_ISSUER" in without_issuer.stderr
    assert "use compose.yaml alone" in without_issuer.stderr
    assert without_audience.returncode != 0
    assert "required variable AUTH_AUDIENCE is missing a value: set AUTH_AUDIENCE" in without_audience.stderr
    # Local work: compose.yaml alone needs neither, and builds without the extra.
    assert local["services"]["api"]["build"]["args"]["EXTRAS"] == ""
