"""Every deploy example turns authentication on, with values the service accepts, and leaves the probes open."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from service.settings import load_settings
from tests.deploy.manifests import (
    CLOUD_RUN_POSTGRESQL_SERVICE,
    CLOUD_RUN_SERVICE,
    PASSWORD_FILE,
    SERVING,
    Manifest,
    env,
    load_documents,
    mapping,
    only,
    pod_spec,
    single_container,
)


def kubernetes_container(variant: str) -> Manifest:
    return single_container(pod_spec(only(variant, "Deployment")))


def cloud_run_container(path: Path) -> Manifest:
    [service] = load_documents(path)
    return single_container(mapping(service["spec"]["template"]["spec"]))


EXAMPLES: dict[str, Callable[[], Manifest]] = {
    **{f"kubernetes-{variant}": partial(kubernetes_container, variant) for variant in SERVING},
    "cloud-run": partial(cloud_run_container, CLOUD_RUN_SERVICE),
    "cloud-run-postgresql": partial(cloud_run_container, CLOUD_RUN_POSTGRESQL_SERVICE),
}


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_turns_auth_on_with_settings_the_service_accepts(
    example: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = env(EXAMPLES[example]())
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    if "SECRETS_DIR" in values:
        # The PostgreSQL examples mount the password there; tmp_path stands in for the volume.
        (tmp_path / PASSWORD_FILE).write_text("secret")
        monkeypatch.setenv("SECRETS_DIR", str(tmp_path))

    settings = load_settings()  # as the container reads them; invalid values raise

    assert settings.auth_enabled
    assert settings.auth_issuer is not None
    assert settings.auth_issuer.startswith("https://")
    assert settings.auth_audience


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_probes_of_the_example_use_the_routes_that_need_no_token(example: str) -> None:
    container = EXAMPLES[example]()
    probes = [container[name] for name in ("startupProbe", "livenessProbe", "readinessProbe") if name in container]

    assert probes
    assert {probe["httpGet"]["path"] for probe in probes} <= {"/health", "/ready"}
