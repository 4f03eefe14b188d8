"""Kubernetes manifests as `kubectl apply -k` applies them: schema-valid offline, and faithful to the image contract.

Each applicable directory (sqlite/, postgresql/, postgresql/migrate/,
postgresql-autoscaling/) is rendered by tests/deploy/kustomize.py, and every
rendered object is validated strictly (unknown fields are errors) against the
JSON schemas bundled with kubernetes-validate: no cluster, no network. Then the
fields that carry the image contract are checked on both serving variants:
port 8000, /health vs /ready, uid 10001, a read-only root with a writable /tmp,
a read-only /models, and a grace period that covers the preStop sleep plus
uvicorn's drain. The SQLite variant's single replica is checked here; the
PostgreSQL variant's replicas, migration and Secret in test_postgresql.py.
"""

from __future__ import annotations

import copy

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.kustomize import split_image
from tests.deploy.manifests import (
    APP_PORT,
    APP_UID,
    APPLICABLE,
    DEFAULT_SHUTDOWN_TIMEOUT,
    EXIT_MARGIN_SECONDS,
    IMAGE_ROOTS,
    KUBERNETES_DIR,
    PLACEHOLDER_IMAGE,
    SERVING,
    SQLITE,
    Manifest,
    effective_security,
    env,
    load_documents,
    mount,
    named,
    only,
    pod_spec,
    quantity,
    rendered,
    single_container,
    volume,
)

# Schema versions the manifests must be valid for: the oldest supported cluster
# (1.30: first release with the preStop `sleep` action on by default) and the
# newest schema kubernetes-validate bundles. Strict mode rejects unknown fields.
MINIMUM_KUBERNETES_VERSION = "1.30.0"
LATEST_KUBERNETES_VERSION = "1.37.0"
KUBERNETES_VERSIONS = (MINIMUM_KUBERNETES_VERSION, LATEST_KUBERNETES_VERSION)

RENDERED_OBJECTS = [(variant, doc) for variant in APPLICABLE for doc in rendered(variant)]


@pytest.fixture(scope="module", params=SERVING)
def variant(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def deployment(variant: str) -> Manifest:
    return only(variant, "Deployment")


@pytest.fixture(scope="module")
def spec(deployment: Manifest) -> Manifest:
    return pod_spec(deployment)


@pytest.fixture(scope="module")
def container(spec: Manifest) -> Manifest:
    return single_container(spec)


# --- schema and layout -------------------------------------------------------


def test_the_latest_bundled_schema_is_the_one_validated_against() -> None:
    # A kubernetes-validate upgrade that bundles a newer schema should move LATEST_KUBERNETES_VERSION.
    assert kubernetes_validate.latest_version() == LATEST_KUBERNETES_VERSION


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    ("variant", "manifest"),
    RENDERED_OBJECTS,
    ids=[f"{variant}:{doc['kind']}/{doc['metadata']['name']}" for variant, doc in RENDERED_OBJECTS],
)
def test_every_rendered_object_validates_strictly_against_the_schema(
    variant: str, manifest: Manifest, version: str
) -> None:
    try:
        kubernetes_validate.validate(manifest, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        location = ".".join(str(part) for part in error.path)
        pytest.fail(f"{variant}: {manifest['kind']}/{manifest['metadata']['name']} at {location}: {error.message}")


@pytest.mark.parametrize(
    ("variant", "kinds"),
    [
        (
            SQLITE,
            [
                "Deployment",
                "NetworkPolicy",
                "PersistentVolumeClaim",
                "PersistentVolumeClaim",
                "PodDisruptionBudget",
                "Service",
            ],
        ),
        ("postgresql", ["Deployment", "NetworkPolicy", "PodDisruptionBudget", "Service"]),
        ("postgresql/migrate", ["Job", "NetworkPolicy"]),
        (
            "postgresql-autoscaling",
            ["Deployment", "HorizontalPodAutoscaler", "NetworkPolicy", "PodDisruptionBudget", "Service"],
        ),
    ],
)
def test_each_directory_applies_the_expected_objects(variant: str, kinds: list[str]) -> None:
    assert sorted(doc["kind"] for doc in rendered(variant)) == kinds


@pytest.mark.parametrize("variant", APPLICABLE)
def test_every_object_lands_in_the_kustomization_namespace_not_default(variant: str) -> None:
    namespaces = {doc["metadata"].get("namespace") for doc in rendered(variant)}
    assert namespaces == {"task-api"}


def test_every_yaml_file_is_applied_by_some_directory_or_is_the_monitoring_example() -> None:
    # A manifest no kustomization lists would be neither applied nor tested.
    listed = set()
    for directory in [path.parent for path in KUBERNETES_DIR.rglob("kustomization.yaml")]:
        kustomization = load_documents(directory / "kustomization.yaml")[0]
        entries = list(kustomization.get("resources", [])) + [
            patch["path"] for patch in kustomization.get("patches", []) if "path" in patch
        ]
        listed |= {(directory / entry).resolve() for entry in entries}
        listed.add((directory / "kustomization.yaml").resolve())
    files = {path.resolve() for path in KUBERNETES_DIR.rglob("*.yaml") if "monitoring" not in path.parts}
    assert sorted(str(path.relative_to(KUBERNETES_DIR)) for path in files - listed) == []


@pytest.mark.parametrize("variant", APPLICABLE)
def test_every_image_is_the_overridable_placeholder_with_a_pinned_tag(variant: str) -> None:
    images = [
        container["image"]
        for doc in rendered(variant)
        if doc["kind"] in ("Deployment", "Job")
        for container in pod_spec(doc)["containers"]
    ]
    assert images
    for image in images:
        name, tag, digest = split_image(image)
        assert name == PLACEHOLDER_IMAGE
        assert digest or tag not in ("", "latest"), "pin a tag or a digest: `latest` makes rollouts unreproducible"


@pytest.mark.parametrize("root", IMAGE_ROOTS)
def test_each_image_root_carries_the_entry_kustomize_edit_set_image_rewrites(root: str) -> None:
    # `kustomize edit set image ghcr.io/example/task-api=...@sha256:...` (the release workflow)
    # edits this entry; it must match the image the manifests name, or the pin would do nothing.
    kustomization = load_documents(KUBERNETES_DIR / root / "kustomization.yaml")[0]
    [entry] = kustomization["images"]
    assert entry["name"] == PLACEHOLDER_IMAGE


def test_the_image_roots_agree_so_the_migration_runs_the_release_it_migrates_for() -> None:
    entries = [load_documents(KUBERNETES_DIR / root / "kustomization.yaml")[0]["images"] for root in IMAGE_ROOTS]
    assert all(entry == entries[0] for entry in entries)


def test_every_object_carries_the_standard_labels() -> None:
    for variant, doc in RENDERED_OBJECTS:
        labels = doc["metadata"]["labels"]
        where = f"{variant}: {doc['kind']}/{doc['metadata']['name']}"
        assert labels["app.kubernetes.io/name"] == "task-api", where
        assert labels["app.kubernetes.io/instance"].startswith("task-api"), where
        assert labels["app.kubernetes.io/part-of"] == "task-api", where


# --- both variants: selectors, port and Service -------------------------------


def test_deployment_selector_matches_its_pod_labels(deployment: Manifest) -> None:
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_container_listens_on_named_port_8000_matching_the_port_variable(container: Manifest) -> None:
    assert container["ports"] == [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}]
    values = env(container)
    assert values["PORT"] == str(APP_PORT)
    assert values["HOST"] == "0.0.0.0"  # noqa: S104 - the pod network, not the host's


def test_service_targets_the_named_http_port_of_the_deployment_pods(variant: str, deployment: Manifest) -> None:
    service = only(variant, "Service")
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "http"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_network_policy_admits_only_the_service_port(variant: str, deployment: Manifest) -> None:
    policy = named(variant, "NetworkPolicy", "task-api")["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    ports = [port for rule in policy["ingress"] for port in rule["ports"]]
    assert ports == [{"port": APP_PORT, "protocol": "TCP"}]


# --- both variants: probes ---------------------------------------------------


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


# --- both variants: security --------------------------------------------------


def test_deployment_runs_as_uid_10001_with_read_only_root(spec: Manifest, container: Manifest) -> None:
    assert effective_security(spec, container, "runAsNonRoot") is True
    assert effective_security(spec, container, "runAsUser") == APP_UID
    assert effective_security(spec, container, "runAsGroup") == APP_UID
    assert spec["securityContext"]["fsGroup"] == APP_UID, "fsGroup makes the volumes readable and writable"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_container_drops_all_capabilities_and_forbids_privilege_escalation(spec: Manifest, container: Manifest) -> None:
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context.get("privileged", False) is False
    assert effective_security(spec, container, "seccompProfile") == {"type": "RuntimeDefault"}


def test_pod_does_not_mount_a_service_account_token(spec: Manifest) -> None:
    assert spec["automountServiceAccountToken"] is False


# --- both variants: volumes ---------------------------------------------------


def test_tmp_is_a_size_limited_memory_backed_empty_dir(spec: Manifest, container: Manifest) -> None:
    tmp = mount(container, "/tmp")  # noqa: S108 - the container's own /tmp
    assert tmp.get("readOnly", False) is False
    empty_dir = volume(spec, tmp["name"])["emptyDir"]
    assert empty_dir["medium"] == "Memory"
    size_limit = quantity(empty_dir["sizeLimit"])
    assert 0 < size_limit < quantity(container["resources"]["limits"]["memory"]), "tmpfs counts against the limit"


def test_models_are_mounted_read_only_at_the_models_dir(container: Manifest) -> None:
    assert mount(container, "/models")["readOnly"] is True
    assert env(container)["MODELS_DIR"] == "/models"


# --- both variants: resources and shutdown ------------------------------------


def test_container_requests_and_limits_cpu_and_memory(container: Manifest) -> None:
    resources = container["resources"]
    for resource in ("cpu", "memory"):
        request = quantity(resources["requests"][resource])
        limit = quantity(resources["limits"][resource])
        assert 0 < request <= limit, resource
    # The idle process is ~50-60 MB RSS: the request must cover it with room to spare.
    assert quantity(resources["requests"]["memory"]) >= 2 * 60 * 2**20


def test_container_runs_one_worker_with_json_logs(container: Manifest) -> None:
    values = env(container)
    assert values["WORKERS"] == "1"
    assert values["LOG_FORMAT"] == "json"
    assert values["LOG_LEVEL"] == "info"
    assert int(values["THREADPOOL_SIZE"]) >= 1


def test_prestop_hook_uses_the_native_sleep_action_not_an_exec(container: Manifest) -> None:
    # The minimal image has no shell and no `sleep` binary: an exec hook would fail.
    pre_stop = container["lifecycle"]["preStop"]
    assert set(pre_stop) == {"sleep"}
    assert pre_stop["sleep"]["seconds"] > 0


def test_grace_period_exceeds_prestop_sleep_plus_shutdown_timeout(spec: Manifest, container: Manifest) -> None:
    shutdown_timeout = int(env(container).get("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT))
    pre_stop_sleep = int(container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0))
    grace = spec["terminationGracePeriodSeconds"]
    assert grace > shutdown_timeout
    assert grace >= pre_stop_sleep + shutdown_timeout + EXIT_MARGIN_SECONDS, (
        f"kubelet would SIGKILL mid-drain: {grace=} < {pre_stop_sleep=} + {shutdown_timeout=} + margin"
    )


# --- SQLite: a single instance -------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_deployment() -> Manifest:
    return only(SQLITE, "Deployment")


def test_sqlite_runs_exactly_one_replica_with_recreate_strategy(sqlite_deployment: Manifest) -> None:
    assert sqlite_deployment["spec"]["replicas"] == 1
    assert sqlite_deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_sqlite_data_claim_is_read_write_once_for_a_single_writer(sqlite_deployment: Manifest) -> None:
    claim_name = volume(pod_spec(sqlite_deployment), "data")["persistentVolumeClaim"]["claimName"]
    claim = named(SQLITE, "PersistentVolumeClaim", claim_name)
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert quantity(claim["spec"]["resources"]["requests"]["storage"]) > 0


def test_sqlite_data_is_a_writable_persistent_volume_holding_the_database(sqlite_deployment: Manifest) -> None:
    spec = pod_spec(sqlite_deployment)
    container = single_container(spec)
    data = mount(container, "/data")
    assert data.get("readOnly", False) is False
    assert "persistentVolumeClaim" in volume(spec, data["name"])
    assert env(container)["DATABASE_URL"] == "sqlite:////data/tasks.db"


def test_sqlite_models_come_from_a_read_only_claim(sqlite_deployment: Manifest) -> None:
    spec = pod_spec(sqlite_deployment)
    models = volume(spec, mount(single_container(spec), "/models")["name"])
    assert models["persistentVolumeClaim"] == {"claimName": "task-api-models", "readOnly": True}
    named(SQLITE, "PersistentVolumeClaim", "task-api-models")


def test_sqlite_mounts_only_tmp_data_and_models(sqlite_deployment: Manifest) -> None:
    mounted = sorted(item["mountPath"] for item in single_container(pod_spec(sqlite_deployment))["volumeMounts"])
    assert mounted == ["/data", "/models", "/tmp"]  # noqa: S108


def test_sqlite_pod_disruption_budget_never_blocks_node_drains(sqlite_deployment: Manifest) -> None:
    budget = only(SQLITE, "PodDisruptionBudget")["spec"]
    replicas = sqlite_deployment["spec"]["replicas"]
    # maxUnavailable: 0 or minAvailable: replicas would make the single pod unevictable.
    if "maxUnavailable" in budget:
        assert budget["maxUnavailable"] >= replicas
    else:
        assert budget["minAvailable"] == 0
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pod_labels = sqlite_deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()


def test_sqlite_network_policy_allows_out_only_dns_and_https_for_the_token_issuer() -> None:
    egress = named(SQLITE, "NetworkPolicy", "task-api")["spec"]["egress"]
    assert all("to" not in rule for rule in egress)  # by port; the destinations are the user's to narrow
    ports = sorted((port["port"], port["protocol"]) for rule in egress for port in rule["ports"])
    assert ports == [(53, "TCP"), (53, "UDP"), (443, "TCP")]


def test_strict_validation_would_catch_a_misspelt_field() -> None:
    # The schema check above is only worth something if it rejects what a cluster would.
    deployment = copy.deepcopy(only("postgresql", "Deployment"))
    single_container(pod_spec(deployment))["readinesProbe"] = {"httpGet": {"path": "/ready", "port": "http"}}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, LATEST_KUBERNETES_VERSION, strict=True)
