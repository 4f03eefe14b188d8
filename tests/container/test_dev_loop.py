"""The container dev loop: compose.dev.yaml with `docker compose watch` serves an edit without a rebuild."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import httpx
import pytest

from tests.container.engine import ComposeProject, Docker, OpenComposeProject
from tests.live import free_port

pytestmark = pytest.mark.container

FIRST_ANSWER_SECONDS = 600  # hang guard: includes building the dev image with the dev group
RELOAD_SECONDS = 60  # hang guard: an edit copied in and reloaded
HEALTH_SUMMARY = "Liveness: the process answers HTTP"


@pytest.fixture
def dev_project(compose_project: OpenComposeProject) -> ComposeProject:
    files = ("compose.yaml", "compose.dev.yaml", "compose.test.yaml")
    running = compose_project(files, {"API_PORT": str(free_port())}, builds="dev")
    (running.directory / "models").chmod(0o755)
    return running


def wait_for(url: str, wanted: object, timeout: float, watch: subprocess.Popen[str]) -> object:
    """GET url until its JSON equals `wanted` (or, if wanted is a callable, satisfies it); the last answer."""
    deadline = time.monotonic() + timeout
    answer: object = None
    while time.monotonic() < deadline:
        if watch.poll() is not None:
            pytest.fail(f"compose watch exited ({watch.returncode})")
        try:
            response = httpx.get(url, timeout=2)
            answer = response.json() if response.status_code == 200 else response.status_code
        except (httpx.TransportError, ValueError):
            answer = None
        if (wanted(answer) if callable(wanted) else answer == wanted) is True:
            return answer
        time.sleep(0.25)
    pytest.fail(f"{url} never answered as wanted within {timeout} s; last answer: {answer!r}")


def health_summary(openapi: object) -> str | None:
    if not isinstance(openapi, dict):
        return None
    summary: str = openapi["paths"]["/health"]["get"]["summary"]
    return summary


def test_watch_serves_an_edited_route_without_a_rebuild(dev_project: ComposeProject, docker: Docker) -> None:
    log = (dev_project.directory / "watch.log").open("w")
    watch = subprocess.Popen(
        dev_project.command("watch"),
        cwd=dev_project.directory,
        env=dev_project.environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        openapi_url = f"http://127.0.0.1:{dev_project.environment['API_PORT']}/openapi.json"
        wait_for(openapi_url, lambda answer: health_summary(answer) == HEALTH_SUMMARY, FIRST_ANSWER_SECONDS, watch)
        container_before = dev_project.run("ps", "-q", "api").stdout.strip()
        image_before = docker.run_cli("inspect", "-f", "{{.Image}}", container_before).stdout.strip()
        user = dev_project.run("exec", "-T", "api", "id", "-u").stdout.strip()

        edited = f"Liveness, edited while serving {uuid.uuid4().hex[:8]}"
        route = dev_project.directory / "service" / "api" / "routes" / "health.py"
        route.write_text(route.read_text().replace(HEALTH_SUMMARY, edited))
        wait_for(openapi_url, lambda answer: health_summary(answer) == edited, RELOAD_SECONDS, watch)

        container_after = dev_project.run("ps", "-q", "api").stdout.strip()
        image_after = docker.run_cli("inspect", "-f", "{{.Image}}", container_after).stdout.strip()
        venv = dev_project.run("exec", "-T", "api", "python", "-c", "import sys; print(sys.prefix)").stdout.strip()
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            watch.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait()
        log.close()

    assert container_after == container_before  # the same container: synced, not recreated
    assert image_after == image_before  # and not rebuilt
    assert user == "10001"
    assert venv == "/venv"  # the environment lives outside the synced /app
