"""The deploy examples as the platforms receive them, and small readers for their fields.

Kubernetes: each applicable directory under deploy/kubernetes, rendered by
tests/deploy/kustomize.py as `kubectl apply -k` would apply it. Cloud Run: the
YAML files as `gcloud run ... replace` reads them.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from service.settings import Settings, load_settings
from tests.deploy.kustomize import render

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_DIR = DEPLOY_DIR / "kubernetes"
CLOUD_RUN_DIR = DEPLOY_DIR / "cloud-run"
CLOUD_RUN_SERVICE = CLOUD_RUN_DIR / "service.yaml"
CLOUD_RUN_POSTGRESQL_SERVICE = CLOUD_RUN_DIR / "service-postgresql.yaml"
CLOUD_RUN_MIGRATE_JOB = CLOUD_RUN_DIR / "migrate-job.yaml"

# Every directory a user applies with `kubectl apply -k` (deploy/README.md).
SQLITE = "sqlite"
POSTGRESQL = "postgresql"
POSTGRESQL_MIGRATE = "postgresql/migrate"
POSTGRESQL_AUTOSCALING = "postgresql-autoscaling"
APPLICABLE = (SQLITE, POSTGRESQL, POSTGRESQL_MIGRATE, POSTGRESQL_AUTOSCALING)
# The ones that run the service (a Deployment), and the kustomizations that carry the image entry.
SERVING = (SQLITE, POSTGRESQL, POSTGRESQL_AUTOSCALING)
IMAGE_ROOTS = (SQLITE, POSTGRESQL, POSTGRESQL_MIGRATE)
PLACEHOLDER_IMAGE = "ghcr.io/example/task-api"

# The image contract (docker/Dockerfile).
APP_PORT = 8000
APP_UID = 10001
DEFAULT_SHUTDOWN_TIMEOUT = 8
# After the drain, uvicorn runs the lifespan shutdown and the process exits.
EXIT_MARGIN_SECONDS = 2
MIGRATE_COMMAND = ["python", "-m", "service", "migrate"]
# Where the service reads the database password from (service/settings.py: SECRETS_DIR).
SECRETS_DIR = "/run/secrets"
PASSWORD_FILE = "database_password"  # noqa: S105 - a file name, not a password

Manifest = dict[str, Any]


def load_documents(path: Path) -> list[Manifest]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    assert all(isinstance(doc, dict) for doc in documents), f"{path.name}: every YAML document must be a mapping"
    return cast(list[Manifest], documents)


@cache
def _rendered(variant: str) -> tuple[Manifest, ...]:
    return tuple(render(KUBERNETES_DIR / variant))


def rendered(variant: str) -> list[Manifest]:
    """What `kubectl apply -k deploy/kubernetes/VARIANT` applies (rendered once per session; do not mutate)."""
    return list(_rendered(variant))


def only(variant: str, kind: str) -> Manifest:
    matches = [doc for doc in rendered(variant) if doc["kind"] == kind]
    assert len(matches) == 1, f"{variant}: expected exactly one {kind}, found {len(matches)}"
    return matches[0]


def named(variant: str, kind: str, name: str) -> Manifest:
    matches = [doc for doc in rendered(variant) if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"{variant}: expected exactly one {kind} named {name}, found {len(matches)}"
    return matches[0]


def mapping(value: object) -> Manifest:
    assert isinstance(value, dict)
    return cast(Manifest, value)


def pod_spec(workload: Manifest) -> Manifest:
    return mapping(workload["spec"]["template"]["spec"])


def single_container(spec: Manifest) -> Manifest:
    containers = spec["containers"]
    assert isinstance(containers, list)
    assert len(containers) == 1, "the service is one container per pod/instance"
    return mapping(containers[0])


def env(container: Manifest) -> dict[str, str]:
    """The container's environment; every entry must be a literal string (secrets come as files)."""
    entries = container.get("env", [])
    assert isinstance(entries, list)
    values: dict[str, str] = {}
    for entry in entries:
        assert "value" in entry, f"{entry['name']}: expected a literal value"
        assert isinstance(entry["value"], str), f"{entry['name']}: env values must be YAML strings"
        values[entry["name"]] = entry["value"]
    return values


def settings_with_mounted_password(
    container: Manifest, secrets_dir: Path, password: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings the container's process loads, with secrets_dir standing in for the mounted password volume."""
    (secrets_dir / PASSWORD_FILE).write_text(password)
    for name, value in env(container).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SECRETS_DIR", str(secrets_dir))
    return load_settings()


def effective_security(spec: Manifest, container: Manifest, field: str) -> object:
    """A container's securityContext field overrides the pod's, as the kubelet applies them."""
    container_context = mapping(container.get("securityContext", {}))
    if field in container_context:
        return container_context[field]
    return mapping(spec.get("securityContext", {})).get(field)


def mount(container: Manifest, path: str) -> Manifest:
    matches = [item for item in container.get("volumeMounts", []) if item["mountPath"] == path]
    assert len(matches) == 1, f"expected exactly one volume mounted at {path}"
    return mapping(matches[0])


def volume(spec: Manifest, name: str) -> Manifest:
    matches = [item for item in spec.get("volumes", []) if item["name"] == name]
    assert len(matches) == 1, f"expected exactly one volume named {name}"
    return mapping(matches[0])


_QUANTITY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)(?P<suffix>m|Ki|Mi|Gi|k|M|G)?$")
_SUFFIXES = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
}


def quantity(value: object) -> float:
    """A Kubernetes resource quantity ("100m", "1", "128Mi") as a number."""
    match = _QUANTITY.match(str(value))
    assert match, f"not a resource quantity this test understands: {value!r}"
    return float(match["number"]) * _SUFFIXES[match["suffix"]]
