"""A thin, typed wrapper over the docker and compose CLIs for the container tests: build, run, inspect, clean up."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

LABEL = "task-api-test"


class DockerError(RuntimeError):
    pass


@dataclass
class Docker:
    """The engine, reached through $DOCKER (set by shared/container-bases/ensure-docker) or `docker`."""

    command: list[str]
    session: str
    created_containers: list[str] = field(default_factory=list)
    created_volumes: list[str] = field(default_factory=list)

    @classmethod
    def find(cls, session: str) -> Docker | str:
        """The engine, or the reason none is reachable."""
        command = os.environ.get("DOCKER", "docker").split()
        if shutil.which(command[0]) is None:
            return f"no docker client ({command[0]!r} not found)"
        try:
            result = subprocess.run(
                [*command, "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return "docker info timed out"
        if result.returncode != 0:
            return f"no Docker engine reachable: {result.stderr.strip()[:200]}"
        return cls(command=command, session=session)

    def run_cli(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.command, *args], capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise DockerError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result

    def build(self, context: Path, target: str, tag: str, *build_args: str) -> subprocess.CompletedProcess[str]:
        arguments = [arg for pair in build_args for arg in ("--build-arg", pair)]
        return self.run_cli(
            "build", "--progress=plain", "-f", str(context / "docker" / "Dockerfile"),
            "--target", target, "-t", tag, *arguments, str(context),
            timeout=900,
        )  # fmt: skip

    def image_size(self, image: str) -> int:
        return int(self.run_cli("image", "inspect", "-f", "{{.Size}}", image).stdout)

    def image_config(self, image: str) -> dict[str, object]:
        config: dict[str, object] = json.loads(self.run_cli("image", "inspect", "-f", "{{json .Config}}", image).stdout)
        return config

    def volume(self) -> str:
        name = self.run_cli("volume", "create", "--label", f"{LABEL}={self.session}").stdout.strip()
        self.created_volumes.append(name)
        return name

    def start(self, image: str, *options: str, command: tuple[str, ...] = ()) -> Container:
        """`docker run -d` with the API published on a random 127.0.0.1 port."""
        container_id = self.run_cli(
            "run", "-d", "--label", f"{LABEL}={self.session}", "-p", "127.0.0.1::8000", *options, image, *command
        ).stdout.strip()
        self.created_containers.append(container_id)
        return Container(self, container_id)

    def exported_files(self, image: str) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
        """Every entry of the image's filesystem (docker create + export), with regular files' contents."""
        container_id = self.run_cli("create", "--label", f"{LABEL}={self.session}", image).stdout.strip()
        self.created_containers.append(container_id)
        with subprocess.Popen([*self.command, "export", container_id], stdout=subprocess.PIPE) as export:
            assert export.stdout is not None
            with tarfile.open(fileobj=export.stdout, mode="r|") as archive:
                for member in archive:
                    extracted = archive.extractfile(member) if member.isfile() else None
                    yield member, extracted.read() if extracted else b""

    def cleanup(self) -> None:
        """Remove every container and volume this session made, whatever happened."""
        listed = self.run_cli("ps", "-aq", "--filter", f"label={LABEL}={self.session}", check=False).stdout.split()
        for container_id in {*self.created_containers, *listed}:
            self.run_cli("rm", "-f", "-v", container_id, check=False)
        volumes = self.run_cli("volume", "ls", "-q", "--filter", f"label={LABEL}={self.session}", check=False)
        for volume in {*self.created_volumes, *volumes.stdout.split()}:
            self.run_cli("volume", "rm", "-f", volume, check=False)


@dataclass
class ComposeProject:
    """One compose project (a unique -p name) on a copy of the repository, driven through $COMPOSE."""

    docker: Docker
    name: str
    directory: Path
    files: tuple[str, ...]
    environment: dict[str, str]

    def command(self, *args: str) -> list[str]:
        """The compose command line for this project ($COMPOSE -p NAME -f ... ARGS)."""
        compose = os.environ.get("COMPOSE", "docker compose").split()
        files = [option for file in self.files for option in ("-f", file)]
        return [*compose, "-p", self.name, *files, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.command(*args),
            cwd=self.directory,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise DockerError(f"compose {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return result

    def containers(self, service: str | None = None) -> list[Container]:
        """The project's containers (all of them, or one service's), running or not, in replica order."""
        ids = self.run("ps", "--all", "--quiet", *([service] if service else [])).stdout.split()
        found = [Container(self.docker, container_id) for container_id in ids]
        return sorted(found, key=lambda container: container.inspect("{{.Name}}"))

    def down(self) -> list[str]:
        """`down --volumes`; returns whatever of the project is still there (containers, volumes, networks)."""
        self.run("down", "--volumes", "--remove-orphans", "--timeout", "10", check=False)
        label = f"label=com.docker.compose.project={self.name}"
        left = []
        for listing in (("ps", "--all"), ("volume", "ls"), ("network", "ls")):
            listed = self.docker.run_cli(*listing, "--quiet", "--filter", label)
            left += [f"{listing[0]} {item}" for item in listed.stdout.split()]
        return left


@dataclass
class Container:
    docker: Docker
    id: str

    @property
    def base_url(self) -> str:
        # "127.0.0.1:49153"; tests only ever talk to loopback.
        binding = self.docker.run_cli("port", self.id, "8000/tcp").stdout.split()[0]
        host, _, port = binding.rpartition(":")
        assert host == "127.0.0.1", binding
        return f"http://127.0.0.1:{port}"

    def inspect(self, template: str) -> str:
        return self.docker.run_cli("inspect", "-f", template, self.id).stdout.strip()

    def exec(self, *command: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.docker.run_cli("exec", self.id, *command, check=check, timeout=60)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.exec("python", "-c", code)

    def logs(self) -> str:
        result = self.docker.run_cli("logs", self.id, check=False)
        return result.stdout + result.stderr

    def wait_for_http(self, timeout: float = 30) -> str:
        """Wait until GET /health answers 200; return the base URL."""
        deadline = time.monotonic() + timeout
        base_url = self.base_url
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    return base_url
            except httpx.TransportError:
                pass
            if self.inspect("{{.State.Running}}") != "true":
                raise DockerError(f"container stopped:\n{self.logs()[-3000:]}")
            time.sleep(0.1)
        raise DockerError(f"no 200 from /health within {timeout} s:\n{self.logs()[-3000:]}")

    def wait_for_health_status(self, wanted: str = "healthy", timeout: float = 40) -> float:
        """Seconds until Docker's HEALTHCHECK status is `wanted`."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.inspect("{{.State.Health.Status}}") == wanted:
                return time.monotonic() - started
            time.sleep(0.2)
        raise DockerError(f"health status never became {wanted}:\n{self.inspect('{{json .State.Health}}')}")

    def process_status(self) -> dict[str, str]:
        """/proc/<pid>/status of the container's main process, read from the host."""
        pid = self.inspect("{{.State.Pid}}")
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


class OpenComposeProject(Protocol):
    """The compose_project fixture: open a project on a fresh copy of the repository."""

    def __call__(
        self, files: tuple[str, ...], environment: dict[str, str], *, builds: str | None = None
    ) -> ComposeProject: ...
