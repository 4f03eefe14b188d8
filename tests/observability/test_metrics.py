"""GET /metrics: Prometheus text with bounded labels, the build, the pool and the process; off with METRICS_ENABLED."""

from __future__ import annotations

import io
import json
import random
import string
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from service.db import create_db_engine
from service.main import create_app
from service.observability.metrics import Metrics
from service.schema import upgrade_to_head
from service.settings import Settings
from tests.observability.scrape import label_values, samples, value

COUNT = "http_server_request_duration_seconds_count"


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def test_requests_are_counted_by_route_template_method_and_status(client: TestClient) -> None:
    created = client.post("/tasks", json={"title": "measured"})
    client.get(f"/tasks/{created.json()['id']}")
    client.get("/tasks/424242")

    text = scrape(client)

    assert value(text, COUNT, http_request_method="POST", http_route="/tasks", http_response_status_code="201") == 1
    route = "/tasks/{task_id}"
    assert value(text, COUNT, http_request_method="GET", http_route=route, http_response_status_code="200") == 1
    assert value(text, COUNT, http_request_method="GET", http_route=route, http_response_status_code="404") == 1
    assert "424242" not in text


def test_the_histogram_has_opentelemetry_buckets(client: TestClient) -> None:
    client.get("/health")

    text = scrape(client)

    buckets = label_values(text, "http_server_request_duration_seconds_bucket", "le")
    assert sorted(buckets, key=float) == [
        *("0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75"),
        *("1.0", "2.5", "5.0", "7.5", "10.0", "+Inf"),
    ]


def test_the_scrape_is_prometheus_text_or_openmetrics_when_asked(client: TestClient) -> None:
    plain = client.get("/metrics")
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert openmetrics.text.endswith("# EOF\n")


def test_series_count_stays_put_whatever_paths_and_ids_clients_send(client: TestClient) -> None:
    rng = random.Random(13)  # noqa: S311 (reproducible test data, not secrets)

    def token() -> str:
        # Letters and digits: "." and ".." would be resolved by the client before they were sent.
        return "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(1, 40)))

    requests: list[Callable[[], object]] = [
        lambda: client.get(f"/{token()}/{token()}"),  # no route: 404
        lambda: client.get(f"/tasks/{rng.randint(1, 2**63 - 1)}"),  # a missing task: 404
        lambda: client.get(f"/tasks/{token()}x"),  # not an id: 422
        lambda: client.post(f"/tasks/{token()}"),  # the route has no POST: 405
        lambda: client.request("PROPFIND", f"/{token()}"),  # a method outside the known set
        lambda: client.get(f"/tasks?limit={rng.randint(-5, 200)}&{token()}={token()}"),  # 200 or 422
    ]
    for request in requests:  # one of each kind first: every series they can make exists
        request()
    client.get("/tasks?limit=0")
    client.get("/tasks?limit=1")
    scrape(client)
    before = {key for key in samples(scrape(client)) if key[0].startswith("http_server_")}

    for _ in range(1000):
        rng.choice(requests)()
    after_text = scrape(client)
    after = {key for key in samples(after_text) if key[0].startswith("http_server_")}

    assert after == before
    assert label_values(after_text, "http_server_", "http_route") == {"", "/tasks", "/tasks/{task_id}", "/metrics"}
    assert label_values(after_text, "http_server_", "http_request_method") == {"GET", "POST", "_OTHER"}
    total = sum(v for (name, _), v in samples(after_text).items() if name == COUNT)
    assert total >= 1000


def test_a_scrape_sees_itself_in_flight(client: TestClient) -> None:
    text = scrape(client)

    assert value(text, "http_server_active_requests", http_request_method="GET") == 1


def test_build_info_carries_the_version_and_revision(settings: Settings) -> None:
    built = settings.model_copy(update={"build_version": "1.2.3", "build_revision": "0123abc"})
    with TestClient(create_app(built)) as client:
        text = scrape(client)

    assert value(text, "task_api_build_info", version="1.2.3", revision="0123abc") == 1


def test_one_process_reports_its_process_and_python_metrics(client: TestClient) -> None:
    text = scrape(client)

    resident = value(text, "process_resident_memory_bytes")
    assert resident is not None
    assert resident > 10_000_000
    assert label_values(text, "python_info", "implementation") == {"CPython"}


def test_pool_gauges_follow_connections_checked_out_and_back(settings: Settings) -> None:
    upgrade_to_head(settings)  # the database file and its schema
    engine = create_db_engine(settings.model_copy(update={"threadpool_size": 3}))
    metrics = Metrics(version="test", revision="test", multiprocess_dir=None)

    assert metrics.pool.watch(engine)

    def checked_out() -> float | None:
        return metrics.registry.get_sample_value("db_pool_checked_out")

    assert metrics.registry.get_sample_value("db_pool_size") == 3
    with engine.connect():
        assert checked_out() == 1
        with engine.connect():
            assert checked_out() == 2
        assert checked_out() == 1
    assert checked_out() == 0
    engine.dispose()


def test_a_pool_that_is_not_a_queue_pool_is_not_watched(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/other.db", poolclass=NullPool)
    metrics = Metrics(version="test", revision="test", multiprocess_dir=None)

    assert not metrics.pool.watch(engine)
    assert metrics.registry.get_sample_value("db_pool_size") == 0


def test_metrics_stay_out_of_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert "/metrics" not in paths


def test_scrapes_are_logged_at_debug_only(client: TestClient, json_logs: io.StringIO) -> None:
    client.get("/metrics")
    client.get("/health")

    events = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert [event["path"] for event in events if event["event"] == "request"] == ["/health"]


def test_metrics_enabled_false_removes_the_route(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"metrics_enabled": False}))) as client:
        assert client.get("/metrics").status_code == 404
        assert client.post("/tasks", json={"title": "still served"}).status_code == 201


def test_an_empty_build_version_and_revision_fall_back(settings: Settings) -> None:
    empty = settings.model_copy(update={"build_version": "", "build_revision": ""})
    with TestClient(create_app(empty)) as client:
        text = scrape(client)

    assert value(text, "task_api_build_info", version=metadata.version("task-api"), revision="unknown") == 1
