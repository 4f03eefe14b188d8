"""`docker compose up` as a newcomer runs it: healthy, models read-only, state surviving a restart, hardened."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.container.engine import ComposeProject, Docker, OpenComposeProject
from tests.live import free_port

pytestmark = pytest.mark.container


@pytest.fixture
def project(compose_project: OpenComposeProject) -> ComposeProject:
    running = compose_project(("compose.yaml", "compose.test.yaml"), {"API_PORT": str(free_port())}, builds="compose")
    (running.directory / "models" / "weights.bin").write_bytes(b"model weights")
    (running.directory / "models").chmod(0o755)
    return running


def test_compose_up_is_healthy_hardened_and_keeps_data(project: ComposeProject, docker: Docker) -> None:
    base_url = f"http://127.0.0.1:{project.environment['API_PORT']}"
    project.run("up", "--detach", "--build", "--wait", "--wait-timeout", "120")

    assert httpx.get(f"{base_url}/health").json() == {"status": "ok"}
    models = httpx.get(f"{base_url}/models").json()["items"]
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
    assert config["HostConfig"]["PidsLimit"] == 128
    assert config["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert config["Config"]["User"] == "10001:10001"
    mounts = {mount["Destination"]: mount for mount in config["Mounts"]}
    assert mounts["/models"]["RW"] is False
    assert mounts["/data"]["Type"] == "volume"

    created = httpx.post(f"{base_url}/tasks", json={"title": "survives restarts"}).json()
    project.run("restart", "api")
    project.run("up", "--detach", "--wait", "--wait-timeout", "60")

    assert httpx.get(f"{base_url}/tasks/{created['id']}").json() == created
