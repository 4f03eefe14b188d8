"""Every deploy example turns authentication on, with values the service accepts, and leaves the probes open."""

from __future__ import annotations

import pytest

from service.settings import load_settings
from tests.deploy.test_manifests import (
    CLOUD_RUN_SERVICE,
    Manifest,
    _env,
    _load_documents,
    _mapping,
    _only,
    _pod_spec,
    _single_container,
)


def kubernetes_container() -> Manifest:
    return _single_container(_pod_spec(_only("Deployment")))


def cloud_run_container() -> Manifest:
    [service] = _load_documents(CLOUD_RUN_SERVICE)
    return _single_container(_mapping(service["spec"]["template"]["spec"]))


EXAMPLES = {"kubernetes": kubernetes_container, "cloud-run": cloud_run_container}


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_turns_auth_on_with_settings_the_service_accepts(
    example: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in _env(EXAMPLES[example]()).items():
        monkeypatch.setenv(name, value)

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
