"""Cloud Run examples: the SQLite demo service, the PostgreSQL service and its migration job.

No schema validator for Cloud Run's Knative-style YAML is available offline, so
the fields these files rely on (deploy/README.md, "Cloud Run") are checked one
by one: port, probes, instance caps, shutdown window, the password from Secret
Manager as a file, and a job that runs the migration once with the service's image.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.manifests import (
    APP_PORT,
    CLOUD_RUN_MIGRATE_JOB,
    CLOUD_RUN_POSTGRESQL_SERVICE,
    CLOUD_RUN_SERVICE,
    DEFAULT_SHUTDOWN_TIMEOUT,
    EXIT_MARGIN_SECONDS,
    MIGRATE_COMMAND,
    PASSWORD_FILE,
    SECRETS_DIR,
    Manifest,
    env,
    load_documents,
    mapping,
    mount,
    quantity,
    settings_with_mounted_password,
    single_container,
    volume,
)

# Cloud Run sends SIGKILL this long after SIGTERM.
CLOUD_RUN_SIGTERM_WINDOW = 10
# Cloud Run rejects a startup probe whose failureThreshold * periodSeconds exceeds this.
CLOUD_RUN_MAX_STARTUP_SECONDS = 240
SERVICES = {"sqlite": CLOUD_RUN_SERVICE, "postgresql": CLOUD_RUN_POSTGRESQL_SERVICE}


def _service(path: Path) -> Manifest:
    [service] = load_documents(path)
    return service


def _revision_annotations(service: Manifest) -> dict[str, str]:
    annotations: dict[str, str] = service["spec"]["template"]["metadata"]["annotations"]
    return annotations


@pytest.fixture(scope="module", params=SERVICES)
def cloud_run(request: pytest.FixtureRequest) -> Manifest:
    return _service(SERVICES[request.param])


@pytest.fixture(scope="module")
def cloud_run_container(cloud_run: Manifest) -> Manifest:
    return single_container(mapping(cloud_run["spec"]["template"]["spec"]))


@pytest.fixture(scope="module")
def postgresql_service() -> Manifest:
    return _service(CLOUD_RUN_POSTGRESQL_SERVICE)


@pytest.fixture(scope="module")
def postgresql_container(postgresql_service: Manifest) -> Manifest:
    return single_container(mapping(postgresql_service["spec"]["template"]["spec"]))


@pytest.fixture(scope="module")
def job() -> Manifest:
    [job] = load_documents(CLOUD_RUN_MIGRATE_JOB)
    return job


@pytest.fixture(scope="module")
def job_spec(job: Manifest) -> Manifest:
    return mapping(job["spec"]["template"]["spec"]["template"]["spec"])


# --- both services -------------------------------------------------------------


def test_cloud_run_service_is_a_knative_serving_v1_service(cloud_run: Manifest) -> None:
    assert cloud_run["apiVersion"] == "serving.knative.dev/v1"
    assert cloud_run["kind"] == "Service"
    assert cloud_run["metadata"]["name"] == "task-api"


def test_cloud_run_routes_to_port_8000_and_leaves_port_variable_to_the_platform(cloud_run_container: Manifest) -> None:
    assert cloud_run_container["ports"] == [{"name": "http1", "containerPort": APP_PORT}]
    # Cloud Run reserves PORT and sets it from containerPort; setting it is rejected.
    assert "PORT" not in env(cloud_run_container)


def test_cloud_run_probes_health_for_startup_and_liveness(cloud_run_container: Manifest) -> None:
    for probe_name in ("startupProbe", "livenessProbe"):
        assert cloud_run_container[probe_name]["httpGet"] == {"path": "/health", "port": APP_PORT}, probe_name
    startup = cloud_run_container["startupProbe"]
    budget = startup["failureThreshold"] * startup["periodSeconds"]
    assert 30 <= budget <= CLOUD_RUN_MAX_STARTUP_SECONDS


def test_cloud_run_shutdown_timeout_fits_in_the_sigterm_window(cloud_run_container: Manifest) -> None:
    shutdown_timeout = int(env(cloud_run_container).get("SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT))
    assert shutdown_timeout + EXIT_MARGIN_SECONDS <= CLOUD_RUN_SIGTERM_WINDOW


def test_cloud_run_sets_concurrency_and_resource_limits(cloud_run: Manifest, cloud_run_container: Manifest) -> None:
    template = cloud_run["spec"]["template"]
    assert template["spec"]["containerConcurrency"] >= 1
    limits = cloud_run_container["resources"]["limits"]
    assert quantity(limits["cpu"]) >= 1
    # The second-generation environment requires at least 512 MiB.
    assert _revision_annotations(cloud_run)["run.googleapis.com/execution-environment"] == "gen2"
    assert quantity(limits["memory"]) >= 512 * 2**20


def test_cloud_run_image_comes_from_a_registry_cloud_run_pulls_from(cloud_run_container: Manifest) -> None:
    registry = cloud_run_container["image"].split("/", 1)[0]
    assert registry.endswith(("-docker.pkg.dev", "gcr.io", "docker.io"))


# --- the SQLite demo --------------------------------------------------------------


def test_the_sqlite_demo_caps_instances_at_one() -> None:
    service = _service(CLOUD_RUN_SERVICE)
    assert service["metadata"]["annotations"]["run.googleapis.com/maxScale"] == "1"
    assert _revision_annotations(service)["autoscaling.knative.dev/maxScale"] == "1"


# --- PostgreSQL: several instances ----------------------------------------------


def test_the_postgresql_service_allows_several_instances(postgresql_service: Manifest) -> None:
    service_cap = int(postgresql_service["metadata"]["annotations"]["run.googleapis.com/maxScale"])
    assert service_cap > 1
    assert int(_revision_annotations(postgresql_service)["autoscaling.knative.dev/maxScale"]) == service_cap


def test_the_postgresql_service_takes_an_instance_out_of_traffic_while_ready_fails(
    postgresql_service: Manifest, postgresql_container: Manifest
) -> None:
    assert postgresql_container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": APP_PORT}
    # Readiness probes are a Preview feature: Cloud Run takes Preview fields only at this stage.
    assert postgresql_service["metadata"]["annotations"]["run.googleapis.com/launch-stage"] == "BETA"


def _password_from_secret_manager(spec: Manifest, container: Manifest) -> Manifest:
    values = env(container)  # literal values only: nothing secret arrives as a variable
    assert "DATABASE_PASSWORD" not in values
    assert ":" not in values["DATABASE_URL"].removeprefix("postgresql+psycopg://").split("@")[0], (
        "no password in the URL"
    )
    assert values["SECRETS_DIR"] == SECRETS_DIR
    source = volume(spec, mount(container, SECRETS_DIR)["name"])["secret"]
    assert source["items"] == [{"key": "latest", "path": PASSWORD_FILE}]
    return mapping(source)


def test_the_service_and_the_job_read_the_same_password_file_from_secret_manager(
    postgresql_service: Manifest, postgresql_container: Manifest, job_spec: Manifest
) -> None:
    service_secret = _password_from_secret_manager(
        mapping(postgresql_service["spec"]["template"]["spec"]), postgresql_container
    )
    job_secret = _password_from_secret_manager(job_spec, single_container(job_spec))
    assert service_secret == job_secret


def test_the_service_accepts_the_postgresql_settings_with_the_mounted_password(
    postgresql_container: Manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with_mounted_password(postgresql_container, tmp_path, "from-secret-manager", monkeypatch)

    assert settings.database_backend == "postgresql"
    assert settings.database_password is not None


# --- the migration job ---------------------------------------------------------------


def test_the_migration_job_runs_one_task_with_few_retries(job: Manifest, job_spec: Manifest) -> None:
    assert job["apiVersion"] == "run.googleapis.com/v1"
    assert job["kind"] == "Job"
    execution = job["spec"]["template"]["spec"]
    assert execution["taskCount"] == 1
    assert execution.get("parallelism", 1) == 1
    assert 0 <= job_spec["maxRetries"] <= 3
    assert 0 < job_spec["timeoutSeconds"] <= 3600


def test_the_migration_job_migrates_with_the_services_image_and_database(
    job: Manifest, job_spec: Manifest, postgresql_service: Manifest, postgresql_container: Manifest
) -> None:
    container = single_container(job_spec)
    assert container["command"] == MIGRATE_COMMAND
    assert container["image"] == postgresql_container["image"]
    assert env(container)["DATABASE_URL"] == env(postgresql_container)["DATABASE_URL"]
    instance = "run.googleapis.com/cloudsql-instances"
    assert (
        job["spec"]["template"]["metadata"]["annotations"][instance]
        == _revision_annotations(postgresql_service)[instance]
    )
    assert f"host=/cloudsql/{_revision_annotations(postgresql_service)[instance]}" in env(container)["DATABASE_URL"]
