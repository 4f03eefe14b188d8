"""WORKERS=2: every scrape, whichever worker answers it, reports the sums of both; each worker traces on its own.

prometheus-client's multiprocess mode in PROMETHEUS_MULTIPROC_DIR (emptied by
the parent before the workers start) or, when that is unset, in a directory
the parent makes under TMPDIR and removes at exit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import httpx

from tests.live import LiveServer
from tests.observability.otlp import SERVER, OtlpReceiver
from tests.observability.scrape import value

THREADPOOL_SIZE = 3
BATCH = 40
MAX_REQUESTS = 4000  # hang guard: the kernel spreads new connections over both workers long before this


def start_two_workers(workdir: Path, **settings: str) -> LiveServer:
    (workdir / "models").mkdir(exist_ok=True)
    return LiveServer(
        workdir, WORKERS="2", THREADPOOL_SIZE=str(THREADPOOL_SIZE), LOG_LEVEL="info", **settings
    ).wait_until_healthy()


def send_until(server: LiveServer, done: Callable[[], bool]) -> int:
    """GET /health on fresh connections, 8 at a time, until `done()`; the number sent (bounded)."""
    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        while not done() and sent < MAX_REQUESTS:
            statuses = list(pool.map(lambda _: httpx.get(f"{server.base_url}/health").status_code, range(BATCH)))
            assert statuses == [200] * BATCH
            sent += BATCH
    return sent


def health_count(text: str) -> float | None:
    return value(
        text,
        "http_server_request_duration_seconds_count",
        http_request_method="GET",
        http_route="/health",
        http_response_status_code="200",
    )


def test_every_scrape_sums_both_workers_in_a_directory_emptied_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    stale = directory / "histogram_99999.db"
    stale.write_bytes(b"left over by an earlier run")  # read at the first scrape, unless the parent wiped it
    server = start_two_workers(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(directory))
    try:
        # Both workers have served once they both have a histogram file.
        sent = send_until(server, lambda: len(list(directory.glob("histogram_*.db"))) >= 2)
        scrapes = [httpx.get(f"{server.base_url}/metrics").text for _ in range(6)]
    finally:
        returncode, _ = server.stop()

    assert not stale.exists()
    assert len(list(directory.glob("histogram_*.db"))) == 2
    readiness_probe = 1  # wait_until_healthy's own GET /health
    for text in scrapes:
        assert health_count(text) == sent + readiness_probe
        # Gauges summed over the live workers: both pools, the one scrape in flight, one build.
        assert value(text, "db_pool_size") == 2 * THREADPOOL_SIZE
        assert value(text, "db_pool_checked_out") == 0
        assert value(text, "http_server_active_requests", http_request_method="GET") == 1
        assert [line for line in text.splitlines() if line.startswith("task_api_build_info")] == [
            f'task_api_build_info{{revision="unknown",version="{metadata.version("task-api")}"}} 1.0'
        ]
        # Per-process figures would describe only the worker that answered.
        assert value(text, "process_resident_memory_bytes") is None
    assert returncode == 0
    # Stopped workers leave no live gauges behind (they would still count in the sums).
    assert not list(directory.glob("gauge_live*.db"))


def test_without_prometheus_multiproc_dir_two_workers_share_a_directory_of_their_own(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    receiver = OtlpReceiver()
    with receiver:
        server = start_two_workers(
            tmp_path,
            TMPDIR=str(temporary),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        try:
            [directory] = temporary.glob("task-api-metrics-*")

            def both_exported() -> bool:
                instances = {span.resource["service.instance.id"] for span in receiver.spans() if span.kind == SERVER}
                return len(instances) >= 2

            # Each worker started its own exporter: spans arrive from two service instances.
            sent = send_until(server, both_exported)
            deadline = time.monotonic() + 15
            while not both_exported() and time.monotonic() < deadline:
                time.sleep(0.1)
            text = httpx.get(f"{server.base_url}/metrics").text
        finally:
            returncode, _ = server.stop()

    assert both_exported()
    assert health_count(text) == sent + 1
    assert value(text, "db_pool_size") == 2 * THREADPOOL_SIZE
    assert returncode == 0
    assert not directory.exists()
