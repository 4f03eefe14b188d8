"""Tracing end to end: the real server exports over OTLP/HTTP to a receiver on 127.0.0.1 that decodes the spans.

A request with a W3C traceparent yields a server span in the caller's trace with
the caller's span as parent, one child span per SQL statement, the request id as
an attribute, and access log lines carrying the same trace_id and span_id.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer
from tests.observability.otlp import CLIENT, SERVER, OtlpReceiver, ReceivedSpan

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    return tmp_path


def traced_server(workdir: Path, receiver: OtlpReceiver, **settings: str) -> LiveServer:
    return LiveServer(
        workdir,
        LOG_LEVEL="info",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_SERVICE_NAME="task-api-under-test",
        OTEL_BSP_SCHEDULE_DELAY="100",  # export every 0.1 s instead of 5 s
        **settings,
    ).wait_until_healthy()


def in_trace(spans: list[ReceivedSpan], kind: int) -> list[ReceivedSpan]:
    return [span for span in spans if span.trace_id == TRACE_ID and span.kind == kind]


def events(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def test_a_request_continues_the_callers_trace_with_a_child_span_per_statement(
    workdir: Path, receiver: OtlpReceiver
) -> None:
    server = traced_server(workdir, receiver)
    try:
        task_id = httpx.post(f"{server.base_url}/tasks", json={"title": "traced"}).json()["id"]
        headers = {"traceparent": TRACEPARENT, "X-Request-ID": "traced-request-1"}
        response = httpx.get(f"{server.base_url}/tasks/{task_id}", headers=headers)
        spans = receiver.wait_for(lambda spans: bool(in_trace(spans, SERVER) and in_trace(spans, CLIENT)))
    finally:
        returncode, output = server.stop()

    assert response.status_code == 200
    [server_span] = in_trace(spans, SERVER)
    assert server_span.parent_span_id == PARENT_SPAN_ID
    assert server_span.name == "GET /tasks/{task_id}"
    assert server_span.attributes["http.route"] == "/tasks/{task_id}"
    assert server_span.attributes["http.response.status_code"] == 200
    assert server_span.attributes["request_id"] == "traced-request-1"
    assert server_span.resource["service.name"] == "task-api-under-test"
    [statement] = in_trace(spans, CLIENT)
    assert statement.parent_span_id == server_span.span_id
    query = statement.attributes.get("db.query.text") or statement.attributes.get("db.statement")
    assert str(query).startswith("SELECT")
    assert statement.attributes.get("db.system.name", statement.attributes.get("db.system")) == "sqlite"
    assert returncode == 0
    # The earlier POST had no traceparent: a trace of its own, with its INSERT as a child.
    posts = [span for span in spans if span.kind == SERVER and span.name == "POST /tasks"]
    assert len(posts) == 1
    assert posts[0].parent_span_id == ""
    assert posts[0].trace_id != TRACE_ID
    assert [span.parent_span_id for span in spans if span.kind == CLIENT and span.trace_id == posts[0].trace_id] == [
        posts[0].span_id
    ]
    [access] = [event for event in events(output) if event["event"] == "request" and event["method"] == "GET"
                and event["path"] == f"/tasks/{task_id}"]  # fmt: skip
    assert (access["trace_id"], access["span_id"]) == (TRACE_ID, server_span.span_id)


def test_every_log_event_inside_a_traced_request_carries_its_ids(workdir: Path, receiver: OtlpReceiver) -> None:
    server = traced_server(workdir, receiver)
    try:
        headers = {"traceparent": TRACEPARENT}
        httpx.post(f"{server.base_url}/tasks", json={"title": "logged"}, headers=headers)
        httpx.get(f"{server.base_url}/tasks/999999", headers=headers)
        httpx.get(f"{server.base_url}/tasks/not-an-id", headers=headers)
        spans = receiver.wait_for(lambda spans: len(in_trace(spans, SERVER)) == 3)
    finally:
        _, output = server.stop()

    server_span_ids = {span.span_id for span in in_trace(spans, SERVER)}
    logged = [event for event in events(output) if event["event"] == "request"]
    # The readiness wait's GET /health had no traceparent: a trace of its own, ids all the same.
    assert [event["path"] for event in logged] == ["/health", "/tasks", "/tasks/999999", "/tasks/not-an-id"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", event["trace_id"]) for event in logged)
    assert all(re.fullmatch(r"[0-9a-f]{16}", event["span_id"]) for event in logged)
    assert {event["trace_id"] for event in logged[1:]} == {TRACE_ID}
    assert {event["span_id"] for event in logged[1:]} == server_span_ids
    outside = [event for event in events(output) if event["event"] in ("startup_complete", "shutdown_complete")]
    assert len(outside) == 2
    assert not [event for event in outside if "trace_id" in event]


def test_scrapes_are_not_traced(workdir: Path, receiver: OtlpReceiver) -> None:
    server = traced_server(workdir, receiver)
    try:
        httpx.get(f"{server.base_url}/metrics", headers={"traceparent": TRACEPARENT})
        httpx.get(f"{server.base_url}/health", headers={"traceparent": TRACEPARENT})
        spans = receiver.wait_for(lambda spans: bool(in_trace(spans, SERVER)))
    finally:
        server.stop()

    assert [span.name for span in in_trace(spans, SERVER)] == ["GET /health"]


def test_without_the_otel_extra_the_service_serves_and_says_why_it_does_not_trace(
    workdir: Path, receiver: OtlpReceiver
) -> None:
    # The dev environment has the extra; hide its packages from this process as an install without it would.
    without_extra = (
        "import sys\n"
        "for name in ('opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.instrumentation'):\n"
        "    sys.modules[name] = None\n"
        "from service.cli import main\n"
        "main()\n"
    )
    server = LiveServer(
        workdir, command=(sys.executable, "-c", without_extra), LOG_LEVEL="info",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
    ).wait_until_healthy()  # fmt: skip
    try:
        created = httpx.post(
            f"{server.base_url}/tasks", json={"title": "untraced"}, headers={"traceparent": TRACEPARENT}
        )
    finally:
        returncode, output = server.stop()

    assert created.status_code == 201
    assert returncode == 0
    [warning] = [event for event in events(output) if event["event"] == "tracing_unavailable"]
    assert warning["level"] == "warning"
    assert "otel extra" in warning["reason"]
    assert not [event for event in events(output) if "trace_id" in event]
    assert receiver.requests == 0


def test_a_request_the_caller_did_not_sample_exports_nothing_but_still_logs_its_ids(
    workdir: Path, receiver: OtlpReceiver
) -> None:
    unsampled = "5b8efff798038103d269b633813fc60c"
    server = traced_server(workdir, receiver)  # the default sampler follows the caller's decision
    try:
        httpx.get(f"{server.base_url}/tasks/1", headers={"traceparent": f"00-{unsampled}-eee19b7ec3c1b174-00"})
        httpx.get(f"{server.base_url}/tasks/1", headers={"traceparent": TRACEPARENT})
        # Spans leave in order: once the sampled request's are in, the unsampled one's would be too.
        spans = receiver.wait_for(lambda spans: bool(in_trace(spans, SERVER) and in_trace(spans, CLIENT)))
    finally:
        _, output = server.stop()

    assert not [span for span in spans if span.trace_id == unsampled]
    [access] = [event for event in events(output) if event.get("trace_id") == unsampled]
    assert access["path"] == "/tasks/1"
