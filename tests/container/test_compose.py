"""`docker compose up` as a newcomer runs it: healthy, models read-only, state surviving a restart, hardened."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.container.conftest import LOCAL_STATE
from tests.container.engine import Docker
from tests.live import free_port

pytestmark = pytest.mark.container


@dataclass
class ComposeProject:
    command: list[str]
    directory: Path
    environment: dict[str, str]
    base_url: str

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.command, *args],
            cwd=self.directory,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(f"compose {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result


@pytest.fixture
def project(docker: Docker, build_context: Path, tmp_path: Path) -> Iterator[ComposeProject]:
    directory = tmp_path / "checkout"
    shutil.copytree(build_context, directory, ignore=LOCAL_STATE, symlinks=True)
    (directory / "models" / "weights.bin").write_bytes(b"model weights")
    (directory / "models").chmod(0o755)
    # A separate image name so the test never replaces a developer's task-api:latest.
    (directory / "compose.test.yaml").write_text(
        f"services:\n  api:\n    image: task-api-test:compose-{docker.session}\n"
    )
    port = free_port()
    compose = os.environ.get("COMPOSE", "docker compose").split()
    name = f"task-api-test-{docker.session}"
    command = [*compose, "-p", name, "-f", "compose.yaml", "-f", "compose.test.yaml"]
    environment = {**os.environ, "API_PORT": str(port)}
    running = ComposeProject(command, directory, environment, f"http://127.0.0.1:{port}")
    try:
        yield running
    finally:
        running.run("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)
        docker.run_cli("rmi", f"task-api-test:compose-{docker.session}", check=False)
        remaining = docker.run_cli("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={name}")
        assert remaining.stdout.strip() == "", "compose down -v left volumes behind"


def test_compose_up_is_healthy_hardened_and_keeps_data(project: ComposeProject, docker: Docker) -> None:
    project.run("up", "--detach", "--build", "--wait", "--wait-timeout", "120")

    assert httpx.get(f"{project.base_url}/health").json() == {"status": "ok"}
    models = httpx.get(f"{project.base_url}/models").json()["items"]
    # The repository's placeholder README, the .dockerignore canary and the test's file: all mounted, none built in.
    assert [item["name"] for item in models] == ["README.md", "canary-model.bin", "weights.bin"]
    write = project.run("exec", "-T", "api", "python", "-c", "open('/models/new.bin', 'w')", check=False)
    assert write.returncode != 0
    assert "Read-only file system" in write.stderr
    assert not (project.directory / "models" / "new.bin").exists()

    container_id = project.run("ps", "-q", "api").stdout.strip()
    config = json.loads(docker.run_cli("inspect", container_id).stdout)[0]
    assert config["State"]["Health"]["Status"] == "healthy"
    assert config["HostConfig"]["ReadonlyRootfs"] is True
    assert config["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in config["HostConfig"]["SecurityOpt"]
    assert config["HostConfig"]["Memory"] == 256 * 1024**2
    assert config["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert config["Config"]["User"] == "10001:10001"
    mounts = {mount["Destination"]: mount for mount in config["Mounts"]}
    assert mounts["/models"]["RW"] is False
    assert mounts["/data"]["Type"] == "volume"

    created = httpx.post(f"{project.base_url}/tasks", json={"title": "survives restarts"}).json()
    project.run("restart", "api")
    project.run("up", "--detach", "--wait", "--wait-timeout", "60")

    assert httpx.get(f"{project.base_url}/tasks/{created['id']}").json() == created
