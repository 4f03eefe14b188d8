"""Deployment manifests: schema-valid offline, and faithful to the image contract.

Kubernetes manifests are validated against the JSON schemas bundled with
kubernetes-validate (no cluster, no network), then the fields that carry the
image contract are checked one by one: port 8000, /health vs /ready, uid 10001,
read-only root with writable /tmp and /data, read-only /models, one replica,
and a grace period that covers the preStop sleep plus uvicorn's drain.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_DIR = DEPLOY_DIR / "kubernetes"
CLOUD_RUN_SERVICE = DEPLOY_DIR / "cloud-run" / "service.yaml"

# Schema versions the manifests must be valid for: the oldest supported cluster
# (1.30: first release with the preStop `sleep` action on by default) and the
# newest schema kubernetes-validate bundles. Strict mode rejects unknown fields.
MINIMUM_KUBERNETES_VERSION = "1.30.0"
LATEST_KUBERNETES_VERSION = "1.37.0"
KUBERNETES_VERSIONS = (MINIMUM_KUBERNETES_VERSION, LATEST_KUBERNETES_VERSION)

# The image contract (docker/Dockerfile).
APP_PORT = 8000
APP_UID = 10001
DEFAULT_SHUTDOWN_TIMEOUT = 8
# After the drain, uvicorn runs the lifespan shutdown and the process exits.
EXIT_MARGIN_SECONDS = 2
# Cloud Run sends SIGKILL this long after SIGTERM.
CLOUD_RUN_SIGTERM_WINDOW = 10
# Cloud Run rejects a startup probe whose failureThreshold * periodSeconds exceeds this.
CLOUD_RUN_MAX_STARTUP_SECONDS = 240

Manifest = dict[str, Any]


def _load_documents(path: Path) -> list[Manifest]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]
    assert all(isinstance(doc, dict) for doc in documents), f"{path.name}: every YAML document must be a mapping"
    return cast(list[Manifest], documents)


def _kubernetes_files() -> list[Path]:
    return sorted(KUBERNETES_DIR.glob("*.yaml"))


def _is_kustomization(doc: Manifest) -> bool:
    return bool(doc.get("kind") == "Kustomization")


KUBERNETES_OBJECTS: list[tuple[Path, Manifest]] = [
    (path, doc) for path in _kubernetes_files() for doc in _load_documents(path) if not _is_kustomization(doc)
]


def _only(kind: str) -> Manifest:
    matches = [doc for _, doc in KUBERNETES_OBJECTS if doc["kind"] == kind]
    assert len(matches) == 1, f"expected exactly one {kind}, found {len(matches)}"
    return matches[0]


def _named(kind: str, name: str) -> Manifest:
    matches = [doc for _, doc in KUBERNETES_OBJECTS if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected exactly one {kind} named {name}, found {len(matches)}"
    return matches[0]


def _mapping(value: object) -> Manifest:
    assert isinstance(value, dict)
    return cast(Manifest, value)


def _pod_spec(workload: Manifest) -> Manifest:
    return _mapping(workload["spec"]["template"]["spec"])


def _single_container(pod_spec: Manifest) -> Manifest:
    containers = pod_spec["containers"]
    assert isinstance(containers, list)
    assert len(containers) == 1, "the service is one container per pod/instance"
    return _mapping(containers[0])


def _env(container: Manifest) -> dict[str, str]:
    entries = container.get("env", [])
    assert isinstance(entries, list)
    env: dict[str, str] = {}
    for entry in entries:
        assert "value" in entry, f"{entry['name']}: expected a literal value"
        assert isinstance(entry["value"], str), f"{entry['name']}: env values must be YAML strings"
        env[entry["name"]] = entry["value"]
    return env


def _effective_security(pod_spec: Manifest, container: Manifest, field: str) -> object:
    """A container's securityContext field overrides the pod's, as the kubelet applies them."""
    container_context = _mapping(container.get("securityContext", {}))
    if field in container_context:
        return container_context[field]
    return _mapping(pod_spec.get("securityContext", {})).get(field)


def _mount(container: Manifest, path: str) -> Manifest:
    matches = [mount for mount in container.get("volumeMounts", []) if mount["mountPath"] == path]
    assert len(matches) == 1, f"expected exactly one volume mounted at {path}"
    return _mapping(matches[0])


def _volume(pod_spec: Manifest, name: str) -> Manifest:
    matches = [volume for volume in pod_spec.get("volumes", []) if volume["name"] == name]
    assert len(matches) == 1, f"expected exactly one volume named {name}"
    return _mapping(matches[0])


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


def _quantity(value: object) -> float:
    """A Kubernetes resource quantity ("100m", "1", "128Mi") as a number."""
    match = _QUANTITY.match(str(value))
    assert match, f"not a resource quantity this test understands: {value!r}"
    return float(match["number"]) * _SUFFIXES[match["suffix"]]


@pytest.fixture(scope="module")
def deployment() -> Manifest:
    return _only("Deployment")


@pytest.fixture(scope="module")
def pod_spec(deployment: Manifest) -> Manifest:
    return _pod_spec(deployment)


@pytest.fixture(scope="module")
def container(pod_spec: Manifest) -> Manifest:
    return _single_container(pod_spec)


# --- Kubernetes: schema and layout -------------------------------------------


def test_kubernetes_directory_holds_the_expected_objects() -> None:
    kinds = sorted(doc["kind"] for _, doc in KUBERNETES_OBJECTS)
    assert kinds == ["Deployment", "PersistentVolumeClaim", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "manifest",
    [doc for _, doc in KUBERNETES_OBJECTS],
    ids=[f"{path.name}:{doc['kind']}" for path, doc in KUBERNETES_OBJECTS],
)
def test_every_kubernetes_object_validates_strictly_against_the_schema(manifest: Manifest, version: str) -> None:
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        location = ".".join(str(part) for part in error.path)
        pytest.fail(f"{manifest['kind']}/{manifest['metadata']['name']} at {location}: {error.message}")


def test_kustomization_lists_every_manifest_in_the_directory() -> None:
    kustomization = _load_documents(KUBERNETES_DIR / "kustomization.yaml")[0]
    manifests = {path.name for path in _kubernetes_files() if path.name != "kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(manifests)


def test_kustomization_image_override_targets_the_deployment_image(container: Manifest) -> None:
    kustomization = _load_documents(KUBERNETES_DIR / "kustomization.yaml")[0]
    image_name, _, tag = container["image"].rpartition(":")
    [override] = kustomization["images"]
    assert override["name"] == image_name
    assert f"{override['newName']}:{override['newTag']}" == container["image"]
    assert tag not in ("", "latest"), "pin a tag: `latest` makes rollouts unreproducible"


def test_every_object_carries_the_standard_labels() -> None:
    for _, doc in KUBERNETES_OBJECTS:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "task-api", doc["metadata"]["name"]
        assert labels["app.kubernetes.io/instance"] == "task-api", doc["metadata"]["name"]
        assert labels["app.kubernetes.io/part-of"] == "task-api", doc["metadata"]["name"]


# --- Kubernetes: single instance ---------------------------------------------


def test_deployment_runs_exactly_one_replica_with_recreate_strategy(deployment: Manifest) -> None:
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_deployment_selector_matches_its_pod_labels(deployment: Manifest) -> None:
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_data_claim_is_read_write_once_for_a_single_sqlite_writer(pod_spec: Manifest) -> None:
    claim_name = _volume(pod_spec, "data")["persistentVolumeClaim"]["claimName"]
    claim = _named("PersistentVolumeClaim", claim_name)
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert _quantity(claim["spec"]["resources"]["requests"]["storage"]) > 0


def test_pod_disruption_budget_never_blocks_node_drains(deployment: Manifest) -> None:
    budget = _only("PodDisruptionBudget")["spec"]
    replicas = deployment["spec"]["replicas"]
    # maxUnavailable: 0 or minAvailable: replicas would make the single pod unevictable.
    if "maxUnavailable" in budget:
        assert budget["maxUnavailable"] >= replicas
    else:
        assert budget["minAvailable"] == 0
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()


# --- Kubernetes: port and Service --------------------------------------------


def test_container_listens_on_named_port_8000_matching_the_port_variable(container: Manifest) -> None:
    assert container["ports"] == [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}]
    env = _env(container)
    assert env["PORT"] == str(APP_PORT)
    assert env["HOST"] == "0.0.0.0"  # noqa: S104 - the pod network, not the host's


def test_service_targets_the_named_http_port_of_the_deployment_pods(deployment: Manifest) -> None:
    service = _only("Service")
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


# --- Kubernetes: probes ------------------------------------------------------


def test_liveness_and_startup_probe_health_and_readiness_probes_ready(container: Manifest) -> None:
    for probe_name, path in (("startupProbe", "/health"), ("livenessProbe", "/health"), ("readinessProbe", "/ready")):
        assert container[probe_name]["httpGet"] == {"path": path, "port": "http"}, probe_name


def test_startup_probe_allows_at_least_thirty_seconds_to_start(container: Manifest) -> None:
    probe = container["startupProbe"]
    assert probe["failureThreshold"] * probe["periodSeconds"] >= 30


def test_probe_timeouts_fit_inside_their_periods(container: Manifest) -> None:
    for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
        probe = container[probe_name]
        assert probe["timeoutSeconds"] <= probe["periodSeconds"], probe_name


# --- Kubernetes: security ----------------------------------------------------


def test_deployment_runs_as_uid_10001_with_read_only_root(pod_spec: Manifest, container: Manifest) -> None:
    assert _effective_security(pod_spec, container, "runAsNonRoot") is True
    assert _effective_security(pod_spec, container, "runAsUser") == APP_UID
    assert _effective_security(pod_spec, container, "runAsGroup") == APP_UID
    assert pod_spec["securityContext"]["fsGroup"] == APP_UID, "fsGroup makes the /data volume writable"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_container_drops_all_capabilities_and_forbids_privilege_escalation(
    pod_spec: Manifest, container: Manifest
) -> None:
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context.get("privileged", False) is False
    assert _effective_security(pod_spec, container, "seccompProfile") == {"type": "RuntimeDefault"}


def test_pod_does_not_mount_a_service_account_token(pod_spec: Manifest) -> None:
    assert pod_spec["automountServiceAccountToken"] is False


# --- Kubernetes: volumes -----------------------------------------------------


def test_tmp_is_a_size_limited_memory_backed_empty_dir(pod_spec: Manifest, container: Manifest) -> None:
    mount = _mount(container, "/tmp")  # noqa: S108 - the container's own /tmp
    assert mount.get("readOnly", False) is False
    empty_dir = _volume(pod_spec, mount["name"])["emptyDir"]
    assert empty_dir["medium"] == "Memory"
    size_limit = _quantity(empty_dir["sizeLimit"])
    assert 0 < size_limit < _quantity(container["resources"]["limits"]["memory"]), "tmpfs counts against the limit"


def test_data_is_a_writable_persistent_volume_holding_the_database(pod_spec: Manifest, container: Manifest) -> None:
    mount = _mount(container, "/data")
    assert mount.get("readOnly", False) is False
    assert "persistentVolumeClaim" in _volume(pod_spec, mount["name"])
    assert _env(container)["DATABASE_URL"] == "sqlite:////data/tasks.db"


def test_models_are_mounted_read_only_at_the_models_dir(pod_spec: Manifest, container: Manifest) -> None:
    mount = _mount(container, "/models")
    assert mount["readOnly"] is True
    volume = _volume(pod_spec, mount["name"])
    assert volume["persistentVolumeClaim"] == {"claimName": "task-api-models", "readOnly": True}
    _named("PersistentVolumeClaim", "task-api-models")
    assert _env(container)["MODELS_DIR"] == "/models"


def test_only_tmp_data_and_models_are_mounted(container: Manifest) -> None:
    mounted = sorted(mount["mountPath"] for mount in container["volumeMounts"])
    assert mounted == ["/data", "/models", "/tmp"]  # noqa: S108


# --- Kubernetes: resources and shutdown --------------------------------------


def test_container_requests_and_limits_cpu_and_memory(container: Manifest) -> None:
    resources = container["resources"]
    for resource in ("cpu", "memory"):
        request = _quantity(resources["requests"][resource])
        limit = _quantity(resources["limits"][resource])
        assert 0 < request <= limit, resource
    # The idle process is ~50-60 MB RSS: the request must cover it with room to spare.
    assert _quantity(resources["requests"]["memory"]) >= 2 * 60 * 2**20


def test_container_runs_one_worker_with_json_logs(container: Manifest) -> None:
    env = _env(container)
    assert env["WORKERS"] == "1"
    assert env["LOG_FORMAT"] == "json"
    assert env["LOG_LEVEL"] == "info"
    assert int(env["THREADPOOL_SIZE"]) >= 1


def test_prestop_hook_uses_the_native_sleep_action_not_an_exec(container: Manifest) -> None:
    # The minimal image has no shell and no `sleep` binary: an exec hook would fail.
    pre_stop = container["lifecycle"]["preStop"]
    assert set(pre_stop) == {"sleep"}
    assert pre_stop["sleep"]["seconds"] > 0


def test_grace_period_exceeds_prestop_sleep_plus_shutdown_timeout(pod_spec: Manifest, container: Manifest) -> None:
    shutdown_timeout = int(_env(container).get("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT))
    pre_stop_sleep = int(container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0))
    grace = pod_spec["terminationGracePeriodSeconds"]
    assert grace > shutdown_timeout
    assert grace >= pre_stop_sleep + shutdown_timeout + EXIT_MARGIN_SECONDS, (
        f"kubelet would SIGKILL mid-drain: {grace=} < {pre_stop_sleep=} + {shutdown_timeout=} + margin"
    )


# --- Cloud Run ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud_run() -> Manifest:
    [service] = _load_documents(CLOUD_RUN_SERVICE)
    return service


@pytest.fixture(scope="module")
def cloud_run_container(cloud_run: Manifest) -> Manifest:
    return _single_container(_mapping(cloud_run["spec"]["template"]["spec"]))


def test_cloud_run_service_is_a_knative_serving_v1_service(cloud_run: Manifest) -> None:
    assert cloud_run["apiVersion"] == "serving.knative.dev/v1"
    assert cloud_run["kind"] == "Service"
    assert cloud_run["metadata"]["name"] == "task-api"


def test_cloud_run_routes_to_port_8000_and_leaves_port_variable_to_the_platform(
    cloud_run_container: Manifest,
) -> None:
    assert cloud_run_container["ports"] == [{"name": "http1", "containerPort": APP_PORT}]
    # Cloud Run reserves PORT and sets it from containerPort; setting it is rejected.
    assert "PORT" not in _env(cloud_run_container)


def test_cloud_run_probes_health_for_startup_and_liveness(cloud_run_container: Manifest) -> None:
    for probe_name in ("startupProbe", "livenessProbe"):
        assert cloud_run_container[probe_name]["httpGet"] == {"path": "/health", "port": APP_PORT}, probe_name
    startup = cloud_run_container["startupProbe"]
    budget = startup["failureThreshold"] * startup["periodSeconds"]
    assert 30 <= budget <= CLOUD_RUN_MAX_STARTUP_SECONDS


def test_cloud_run_caps_instances_at_one_for_sqlite(cloud_run: Manifest) -> None:
    assert cloud_run["metadata"]["annotations"]["run.googleapis.com/maxScale"] == "1"
    assert cloud_run["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"] == "1"


def test_cloud_run_shutdown_timeout_fits_in_the_sigterm_window(cloud_run_container: Manifest) -> None:
    shutdown_timeout = int(_env(cloud_run_container).get("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT))
    assert shutdown_timeout + EXIT_MARGIN_SECONDS <= CLOUD_RUN_SIGTERM_WINDOW


def test_cloud_run_sets_concurrency_and_resource_limits(cloud_run: Manifest, cloud_run_container: Manifest) -> None:
    template = cloud_run["spec"]["template"]
    assert template["spec"]["containerConcurrency"] >= 1
    limits = cloud_run_container["resources"]["limits"]
    assert _quantity(limits["cpu"]) >= 1
    # The second-generation environment requires at least 512 MiB.
    assert template["metadata"]["annotations"]["run.googleapis.com/execution-environment"] == "gen2"
    assert _quantity(limits["memory"]) >= 512 * 2**20


def test_cloud_run_image_comes_from_a_registry_cloud_run_pulls_from(cloud_run_container: Manifest) -> None:
    registry = cloud_run_container["image"].split("/", 1)[0]
    assert registry.endswith(("-docker.pkg.dev", "gcr.io", "docker.io"))
