"""Metrics scraping in the Kubernetes manifests: the pod's prometheus.io annotations and a ServiceMonitor example.

The ServiceMonitor is a Prometheus Operator custom resource: outside every
kustomization (a cluster without the CRD would reject `kubectl apply -k`) and
outside the Kubernetes schemas, so it is checked field by field here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.manifests import APP_PORT, KUBERNETES_DIR, SERVING, Manifest, load_documents, only, rendered

SERVICE_MONITOR = KUBERNETES_DIR / "monitoring" / "servicemonitor.yaml"
METRICS_PATH = "/metrics"


def _service_monitor() -> Manifest:
    [monitor] = load_documents(SERVICE_MONITOR)
    return monitor


@pytest.mark.parametrize("variant", SERVING)
def test_pod_template_carries_the_scrape_annotations_for_the_metrics_port(variant: str) -> None:
    deployment = only(variant, "Deployment")
    annotations: dict[str, Any] = deployment["spec"]["template"]["metadata"]["annotations"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]

    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == METRICS_PATH
    assert annotations["prometheus.io/port"] == str(APP_PORT)
    assert str(APP_PORT) in {str(port["containerPort"]) for port in container["ports"]}


@pytest.mark.parametrize("variant", SERVING)
def test_service_monitor_scrapes_metrics_through_the_services_named_port(variant: str) -> None:
    monitor = _service_monitor()
    service = only(variant, "Service")

    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["kind"] == "ServiceMonitor"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == METRICS_PATH
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert int(endpoint["scrapeTimeout"].removesuffix("s")) < int(endpoint["interval"].removesuffix("s"))


@pytest.mark.parametrize("variant", SERVING)
def test_service_monitor_stays_out_of_every_kustomization(variant: str) -> None:
    assert "ServiceMonitor" not in {doc["kind"] for doc in rendered(variant)}
    assert not list((KUBERNETES_DIR / "monitoring").glob("kustomization.yaml"))
