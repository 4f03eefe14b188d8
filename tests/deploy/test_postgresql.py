"""The PostgreSQL variant as `kubectl apply -k` applies it: replicas, rollouts, the password by reference, migration.

Rendered by tests/deploy/kustomize.py from deploy/kubernetes/postgresql,
postgresql/migrate and postgresql-autoscaling; the schema checks and the
contract shared with the SQLite variant are in test_manifests.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.manifests import (
    APPLICABLE,
    MIGRATE_COMMAND,
    PASSWORD_FILE,
    POSTGRESQL,
    POSTGRESQL_AUTOSCALING,
    POSTGRESQL_MIGRATE,
    SECRETS_DIR,
    Manifest,
    env,
    mount,
    named,
    only,
    pod_spec,
    rendered,
    settings_with_mounted_password,
    single_container,
    volume,
)

# PostgreSQL's default max_connections (100) less superuser_reserved_connections (3).
DEFAULT_CONNECTION_LIMIT = 100 - 3
MIGRATE_CONNECTIONS = 2


@pytest.fixture(scope="module")
def deployment() -> Manifest:
    return only(POSTGRESQL, "Deployment")


@pytest.fixture(scope="module")
def container(deployment: Manifest) -> Manifest:
    return single_container(pod_spec(deployment))


@pytest.fixture(scope="module")
def job() -> Manifest:
    return only(POSTGRESQL_MIGRATE, "Job")


@pytest.fixture(scope="module")
def job_container(job: Manifest) -> Manifest:
    return single_container(pod_spec(job))


def _selects(selector: dict[str, str], workload: Manifest) -> bool:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return selector.items() <= labels.items()


# --- replicas and rollouts ---------------------------------------------------


def test_three_replicas_roll_out_without_ever_dropping_a_ready_pod(deployment: Manifest) -> None:
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] >= 1


def test_pods_hold_no_state_no_claim_and_no_data_mount(deployment: Manifest, container: Manifest) -> None:
    spec = pod_spec(deployment)
    assert not [doc for doc in rendered(POSTGRESQL) if doc["kind"] == "PersistentVolumeClaim"]
    assert not [item for item in spec["volumes"] if "persistentVolumeClaim" in item]
    assert "/data" not in {item["mountPath"] for item in container["volumeMounts"]}


def test_replicas_spread_over_nodes(deployment: Manifest) -> None:
    [constraint] = pod_spec(deployment)["topologySpreadConstraints"]
    assert constraint["topologyKey"] == "kubernetes.io/hostname"
    assert constraint["maxSkew"] == 1
    assert _selects(constraint["labelSelector"]["matchLabels"], deployment)
    assert "pod-template-hash" in constraint["matchLabelKeys"]  # spread each rollout's new pods too


def test_the_disruption_budget_keeps_at_least_one_replica(deployment: Manifest) -> None:
    budget = only(POSTGRESQL, "PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1
    assert budget["minAvailable"] < deployment["spec"]["replicas"], "a budget of every replica blocks all drains"
    assert _selects(budget["selector"]["matchLabels"], deployment)


def test_the_autoscaler_owns_the_replica_count_and_never_goes_below_three() -> None:
    deployment = only(POSTGRESQL_AUTOSCALING, "Deployment")
    autoscaler = only(POSTGRESQL_AUTOSCALING, "HorizontalPodAutoscaler")["spec"]
    container = single_container(pod_spec(deployment))

    assert "replicas" not in deployment["spec"], "each apply would reset the autoscaler's count"
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "task-api"}
    assert autoscaler["minReplicas"] >= 3
    assert autoscaler["maxReplicas"] > autoscaler["minReplicas"]
    values = env(container)
    connections = autoscaler["maxReplicas"] * int(values["WORKERS"]) * int(values["THREADPOOL_SIZE"])
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] * int(values["THREADPOOL_SIZE"])
    assert connections + surge + MIGRATE_CONNECTIONS < DEFAULT_CONNECTION_LIMIT


def test_autoscaling_is_the_postgresql_variant_plus_the_autoscaler(deployment: Manifest) -> None:
    autoscaled = only(POSTGRESQL_AUTOSCALING, "Deployment")
    assert {**autoscaled["spec"], "replicas": 3} == deployment["spec"]
    others = sorted((doc["kind"], doc["metadata"]["name"]) for doc in rendered(POSTGRESQL))
    assert (
        sorted(
            (doc["kind"], doc["metadata"]["name"])
            for doc in rendered(POSTGRESQL_AUTOSCALING)
            if doc["kind"] != "HorizontalPodAutoscaler"
        )
        == others
    )


# --- the password: a Secret by reference, never a literal ----------------------


@pytest.mark.parametrize("variant", APPLICABLE)
def test_no_directory_carries_a_secret(variant: str) -> None:
    assert not [doc for doc in rendered(variant) if doc["kind"] == "Secret"]


@pytest.mark.parametrize("workload", ["deployment", "job"])
def test_the_password_is_a_file_from_the_secret_and_never_in_the_environment(
    workload: str, request: pytest.FixtureRequest
) -> None:
    manifest: Manifest = request.getfixturevalue(workload)
    spec = pod_spec(manifest)
    container = single_container(spec)
    values = env(container)  # every entry a literal: no valueFrom, so nothing secret arrives as a variable

    assert "DATABASE_PASSWORD" not in values
    assert values["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert ":" not in values["DATABASE_URL"].removeprefix("postgresql+psycopg://").split("@")[0], (
        "no password in the URL"
    )
    assert values["SECRETS_DIR"] == SECRETS_DIR
    secrets = mount(container, SECRETS_DIR)
    assert secrets["readOnly"] is True
    source = volume(spec, secrets["name"])["secret"]
    assert source["secretName"] == "task-api-database"
    assert source["items"] == [{"key": PASSWORD_FILE, "path": PASSWORD_FILE}]


def test_the_service_reads_the_password_file_the_manifest_mounts(
    container: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with_mounted_password(container, tmp_path, "from-the-secret", monkeypatch)

    assert settings.database_backend == "postgresql"
    assert settings.database_password is not None
    assert settings.database_password.get_secret_value() == "from-the-secret"


# --- the migration Job -----------------------------------------------------------


def test_the_job_migrates_with_the_deployments_image_database_and_password(
    job: Manifest, job_container: Manifest, container: Manifest, deployment: Manifest
) -> None:
    assert job_container["command"] == MIGRATE_COMMAND
    assert "args" not in job_container
    assert job_container["image"] == container["image"]
    for name in ("DATABASE_URL", "SECRETS_DIR"):
        assert env(job_container)[name] == env(container)[name], name
    job_secret = volume(pod_spec(job), mount(job_container, SECRETS_DIR)["name"])
    assert job_secret == volume(pod_spec(deployment), mount(container, SECRETS_DIR)["name"])
    assert pod_spec(job)["securityContext"] == pod_spec(deployment)["securityContext"]
    assert job_container["securityContext"] == container["securityContext"]


def test_the_job_runs_once_with_bounded_retries_and_time(job: Manifest, job_container: Manifest) -> None:
    spec = job["spec"]
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert spec.get("parallelism", 1) == 1
    assert spec.get("completions", 1) == 1
    assert 0 <= spec["backoffLimit"] <= 3
    assert 0 < spec["activeDeadlineSeconds"] <= 3600
    # Invalid settings (exit 2, service/migrate_command.py) fail the Job without a retry.
    [rule] = spec["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"] == {"containerName": job_container["name"], "operator": "In", "values": [2]}


def test_the_deployment_service_and_budget_never_select_the_migration_pod(job: Manifest, deployment: Manifest) -> None:
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        only(POSTGRESQL, "Service")["spec"]["selector"],
        only(POSTGRESQL, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
        named(POSTGRESQL, "NetworkPolicy", "task-api")["spec"]["podSelector"]["matchLabels"],
    ]
    assert not [selector for selector in selectors if _selects(selector, job)]


def test_the_job_lands_in_the_deployments_namespace(job: Manifest, deployment: Manifest) -> None:
    assert job["metadata"]["namespace"] == deployment["metadata"]["namespace"]


# --- network policies -------------------------------------------------------------


def _egress_ports(policy: Manifest) -> list[tuple[int, str]]:
    assert all("to" not in rule for rule in policy["spec"]["egress"])  # by port; destinations are the user's
    return sorted((port["port"], port["protocol"]) for rule in policy["spec"]["egress"] for port in rule["ports"])


def test_the_service_may_reach_only_dns_the_database_and_the_token_issuer() -> None:
    policy = named(POSTGRESQL, "NetworkPolicy", "task-api")
    assert _egress_ports(policy) == [(53, "TCP"), (53, "UDP"), (443, "TCP"), (5432, "TCP")]


def test_the_migration_may_reach_only_dns_and_the_database_and_takes_no_connections(job: Manifest) -> None:
    policy = named(POSTGRESQL_MIGRATE, "NetworkPolicy", "task-api-migrate")
    assert _selects(policy["spec"]["podSelector"]["matchLabels"], job)
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert policy["spec"]["ingress"] == []
    assert _egress_ports(policy) == [(53, "TCP"), (53, "UDP"), (5432, "TCP")]
