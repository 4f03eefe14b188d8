"""When tracing starts: only when the standard OTEL_* variables configure an exporter this build has."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from service.log import configure_logging
from service.observability.tracing import tracing_request

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    "environ",
    [
        ENDPOINT,
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "otlp"},  # the SDK's default endpoint, localhost:4318
        ENDPOINT | {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_SDK_DISABLED": "false"},
    ],
    ids=["endpoint", "traces-endpoint", "exporter-named", "explicit-defaults"],
)
def test_an_otlp_exporter_configured_turns_tracing_on(environ: dict[str, str]) -> None:
    assert tracing_request(environ).enabled


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_SERVICE_NAME": "task-api", "OTEL_TRACES_SAMPLER": "always_on"},
        ENDPOINT | {"OTEL_SDK_DISABLED": "TRUE"},
        ENDPOINT | {"OTEL_TRACES_EXPORTER": "none"},
    ],
    ids=["nothing", "no-exporter", "sdk-disabled", "exporter-none"],
)
def test_tracing_stays_off_unless_an_exporter_is_configured(environ: dict[str, str]) -> None:
    request = tracing_request(environ)

    assert not request.enabled
    assert request.problem is None


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        (ENDPOINT | {"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        (ENDPOINT | {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        (ENDPOINT | {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, "grpc"),
    ],
    ids=["other-exporter", "grpc", "grpc-for-traces"],
)
def test_an_exporter_this_build_lacks_keeps_tracing_off_and_says_why(environ: dict[str, str], named: str) -> None:
    request = tracing_request(environ)

    assert not request.enabled
    assert request.problem is not None
    assert named in request.problem


def test_tracing_off_imports_no_sdk_and_adds_no_log_fields(tmp_path: Path) -> None:
    # A fresh interpreter: this test process has imported the SDK already.
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.log import configure_logging\n"
        "from service.main import create_app\n"
        "from service.settings import Settings\n"
        "configure_logging(level='info', log_format='json', trace_context=False)\n"
        f"settings = Settings(_env_file=None, database_url='sqlite:///{tmp_path}/t.db', models_dir='{tmp_path}')\n"
        "with TestClient(create_app(settings)) as client:\n"
        "    client.post('/tasks', json={'title': 'untraced'})\n"
        "print([m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))])\n"
    )
    environment = {"PATH": "/usr/bin:/bin", "OTEL_SDK_DISABLED": "true"} | ENDPOINT
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    *logs, imported = result.stdout.splitlines()
    assert imported == "[]"
    access = [json.loads(line) for line in logs if '"request"' in line]
    assert access
    assert all("trace_id" not in event for event in access)


def test_log_events_inside_a_span_carry_its_ids_in_w3c_form() -> None:
    stream = io.StringIO()
    configure_logging(level="info", log_format="json", stream=stream, trace_context=True)
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("test")
    log = structlog.get_logger("test.correlation")
    try:
        with tracer.start_as_current_span("request") as span:
            log.info("inside")
            logging.getLogger("test.stdlib").warning("stdlib_inside")
        log.info("outside")
    finally:
        configure_logging(level="info", log_format="json")

    inside, stdlib_inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert len(inside["trace_id"]) == 32
    assert len(inside["span_id"]) == 16
    assert (stdlib_inside["event"], stdlib_inside["trace_id"]) == ("stdlib_inside", inside["trace_id"])
    assert "trace_id" not in outside
    assert "span_id" not in outside
