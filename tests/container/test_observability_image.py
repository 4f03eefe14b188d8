"""Observability in the image: /metrics in the default image, tracing only with `--build-arg EXTRAS=otel`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.container.engine import Container, Docker
from tests.container.test_runtime import HARDENING

pytestmark = pytest.mark.container

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
BUILD_ARGS = ("REVISION=test-revision", "VERSION=0.0.0-test")
# Nothing listens there (the container's own loopback): export fails quietly, tracing still runs.
TRACING = ("-e", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "-e", "OTEL_BSP_SCHEDULE_DELAY=100")


@pytest.fixture(scope="module")
def otel_image(docker: Docker, build_context: Path) -> Iterator[str]:
    tag = f"task-api-test:production-otel-{docker.session}"
    docker.build(build_context, "production", tag, "EXTRAS=otel", *BUILD_ARGS)
    yield tag
    docker.run_cli("rmi", tag, check=False)


def log_events(container: Container) -> list[dict[str, object]]:
    return [json.loads(line) for line in container.logs().splitlines() if line.startswith("{")]


def test_the_default_image_serves_metrics_with_its_build_and_has_no_tracing_sdk(
    docker: Docker, image: Callable[[str], str]
) -> None:
    container = docker.start(image("production"), *HARDENING, *TRACING)
    base_url = container.wait_for_http()

    metrics = httpx.get(f"{base_url}/metrics")
    sdk = container.python("import opentelemetry.sdk")

    assert metrics.status_code == 200
    assert 'task_api_build_info{revision="test-revision",version="0.0.0-test"} 1.0' in metrics.text
    assert sdk.returncode != 0
    assert "No module named 'opentelemetry.sdk'" in sdk.stderr
    # Asked to trace without the extra: it serves, and says why it does not trace.
    assert [event["event"] for event in log_events(container) if event["event"] == "tracing_unavailable"] == [
        "tracing_unavailable"
    ]


def test_the_otel_build_argument_adds_tracing_to_the_hardened_image(docker: Docker, otel_image: str) -> None:
    container = docker.start(otel_image, *HARDENING, *TRACING)
    base_url = container.wait_for_http()

    response = httpx.get(f"{base_url}/tasks/1", headers={"traceparent": TRACEPARENT})
    deadline = time.monotonic() + 10  # hang guard: the access line follows the response at once
    while time.monotonic() < deadline and not [e for e in log_events(container) if e.get("path") == "/tasks/1"]:
        time.sleep(0.1)

    assert response.status_code == 404
    events = log_events(container)
    assert [event["event"] for event in events if event["event"] == "tracing_started"] == ["tracing_started"]
    [access] = [event for event in events if event.get("path") == "/tasks/1"]
    assert access["trace_id"] == TRACE_ID


def test_the_otel_image_has_bytecode_for_every_module_tracing_loads(docker: Docker, otel_image: str) -> None:
    container = docker.start(otel_image, *HARDENING, *TRACING)
    container.wait_for_http()

    result = container.python(
        "import importlib.util, os, sys\n"
        "import service.cli, uvicorn.config\n"
        "from service.main import create_app\n"
        "from service.settings import Settings\n"
        "import opentelemetry.exporter.otlp.proto.http.trace_exporter, opentelemetry.sdk.trace.export\n"
        "settings = Settings(_env_file=None, database_url='sqlite:////tmp/bytecode.db', models_dir='/models')\n"
        "uvicorn.config.Config(create_app(settings), loop='uvloop', http='httptools').load()\n"
        "assert 'opentelemetry.sdk.trace' in sys.modules\n"
        "modules = [m for m in list(sys.modules.values()) if (getattr(m, '__file__', None) or '').endswith('.py')]\n"
        "frozen = {m.__name__ for m in modules if getattr(m.__spec__, 'origin', None) == 'frozen'}\n"
        "print(sorted(m.__name__ for m in modules if m.__name__ not in frozen | {'__main__'}\n"
        "    and not os.path.exists(importlib.util.cache_from_source(m.__file__))))\n"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_two_workers_sum_their_metrics_under_a_read_only_root(docker: Docker, image: Callable[[str], str]) -> None:
    # The metrics directory is made under the tmpfs /tmp: the only writable place besides /data.
    container = docker.start(image("production"), *HARDENING, "-e", "WORKERS=2", "-e", "THREADPOOL_SIZE=3")
    base_url = container.wait_for_http()  # one worker serves; the other may still be starting

    deadline = time.monotonic() + 30  # hang guard
    pool_size = "db_pool_size 3.0"
    while time.monotonic() < deadline and pool_size == "db_pool_size 3.0":
        lines = httpx.get(f"{base_url}/metrics").text.splitlines()
        pool_size = next(line for line in lines if line.startswith("db_pool_size "))
        time.sleep(0.2)
    listing = container.exec("python", "-c", "import glob; print(sorted(glob.glob('/tmp/task-api-metrics-*/*.db')))")

    assert pool_size == "db_pool_size 6.0"  # both workers' pools of 3, whichever worker answered
    assert listing.returncode == 0, listing.stderr
    assert "histogram_" in listing.stdout
