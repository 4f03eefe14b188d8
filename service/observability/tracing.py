"""OpenTelemetry tracing: off unless the standard OTEL_* variables configure an exporter; then one pipeline per worker.

Configuration is OpenTelemetry's own: OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT,
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG),
OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*, OTEL_SDK_DISABLED, ... read by the SDK
itself. This module only decides whether to start it, and wires it:

- FastAPI traces each request itself (its native telemetry): a server span that
  continues an incoming W3C traceparent and is named after the route template;
- SQLAlchemy's engine events give one child span per statement;
- the request id becomes a span attribute, and log events inside a traced
  request carry its trace_id and span_id (add_trace_context).

The SDK and the OTLP/HTTP exporter come from the optional `otel` extra and are
imported only when tracing is on: a build without the extra runs, and says why
it does not trace when asked to. The OpenTelemetry API, which FastAPI itself
depends on, is the only part imported when tracing is off.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import structlog
from opentelemetry import context, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY  # the key every instrumentation honours
from sqlalchemy import event

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy import Engine
    from starlette.types import Scope

log = structlog.get_logger(__name__)

SERVICE_NAME = "task-api"  # unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names it
REQUEST_ID_ATTRIBUTE = "request_id"  # the same name as in the log events
_SUPPRESSION_SCOPE_KEY = "service.tracing.suppression"  # where the request's context token waits
# Scrapes come every few seconds and touch nothing; their latency is in the metrics.
UNTRACED_PATHS = frozenset({"/metrics"})
# At shutdown, the last spans get this long to reach the collector: it comes on
# top of SHUTDOWN_TIMEOUT within the platform's grace period (deploy/kubernetes).
FLUSH_AT_SHUTDOWN_SECONDS = 2.0
# Most specific first, as the SDK reads them.
TRACES_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
TRACES_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
INSTALL_HINT = "install the otel extra (uv sync --extra otel; the image: --build-arg EXTRAS=otel)"

# FastAPI's own telemetry stays off entirely when we do not trace: it is then
# skipped with one check per request, whatever global provider a library sets.
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "auto_configure": False}


@dataclass(frozen=True)
class TracingRequest:
    """What the environment asks for: tracing on, or off; `problem` says why asked-for tracing cannot start."""

    enabled: bool
    problem: str | None = None


def tracing_request(environ: Mapping[str, str] = os.environ) -> TracingRequest:
    """Whether OTEL_* configures trace export this build can do (OTLP over HTTP/protobuf)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return TracingRequest(enabled=False)
    exporter_setting = environ.get("OTEL_TRACES_EXPORTER", "")
    exporters = {name.strip().lower() for name in exporter_setting.split(",") if name.strip()}
    if "none" in exporters:
        return TracingRequest(enabled=False)
    endpoint = any(environ.get(name, "").strip() for name in TRACES_ENDPOINT_VARIABLES)
    # Configured = an endpoint, or an exporter named outright (the SDK's default endpoint is localhost:4318).
    if not endpoint and not exporters:
        return TracingRequest(enabled=False)
    if exporters and "otlp" not in exporters:
        return TracingRequest(False, f"OTEL_TRACES_EXPORTER={exporter_setting!r}: this build exports otlp only")
    protocol = next((environ[name] for name in TRACES_PROTOCOL_VARIABLES if environ.get(name)), "http/protobuf").strip()
    if protocol != "http/protobuf":
        return TracingRequest(
            False, f"OTLP protocol {protocol!r}: this build has the http/protobuf exporter only (no gRPC)"
        )
    return TracingRequest(enabled=True)


def add_trace_context(_logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's ids in W3C form (32 and 16 lowercase hex digits).

    Only in the chain when tracing is on (service/log.py). A request the sampler
    dropped keeps its ids too: they still match the caller's logs and traces.
    """
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(span_context.trace_id)
        event_dict["span_id"] = trace.format_span_id(span_context.span_id)
    return event_dict


class RequestSpanObserver:
    """The request observer (middleware/request_context.py) for the server span FastAPI started.

    Recorded: it gets the request id. Not recorded (the sampler dropped the
    request, or it is not traced): instrumentation is suppressed until the
    response, so its SQL statements cost no span work and never become
    stray root spans of their own.
    """

    def request_started(self, scope: Scope, request_id: str) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)
        else:
            scope[_SUPPRESSION_SCOPE_KEY] = context.attach(context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))

    def request_finished(self, scope: Scope, status_code: int, seconds: float) -> None:  # noqa: ARG002
        token = scope.pop(_SUPPRESSION_SCOPE_KEY, None)
        if token is not None:
            context.detach(token)


def _untraced(scope: MutableMapping[str, Any]) -> bool:
    return scope.get("path") in UNTRACED_PATHS


class Tracing:
    """One worker process's tracing: the provider FastAPI and SQLAlchemy report to, exporting over OTLP/HTTP."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.request_observer = RequestSpanObserver()

    @classmethod
    def from_environment(
        cls, engine: Engine, *, service_version: str, environ: Mapping[str, str] = os.environ
    ) -> Tracing | None:
        """Tracing for this app and engine when OTEL_* asks for it and the SDK is installed; else None (logged)."""
        request = tracing_request(environ)
        if request.problem:
            log.warning("tracing_disabled", reason=request.problem)
            return None
        if not request.enabled:
            return None
        try:
            # Deferred: the SDK is optional, and off it must cost nothing, not even its import.
            from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer  # noqa: PLC0415
            from opentelemetry.metrics import NoOpMeter  # noqa: PLC0415
            from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
            from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
        except ImportError as exc:
            log.warning("tracing_unavailable", reason=f"OTEL_* asks for traces, {exc.name} is missing: {INSTALL_HINT}")
            return None
        # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES;
        # ours only fills what they leave out.
        detected = Resource.create()
        ours: dict[str, str] = {}
        if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
            ours["service.name"] = SERVICE_NAME
        if "service.version" not in detected.attributes:
            ours["service.version"] = service_version
        # The sampler comes from OTEL_TRACES_SAMPLER(_ARG); spans are exported by start().
        provider = TracerProvider(resource=detected.merge(Resource(ours)), shutdown_on_exit=False)
        # EngineTracer, not SQLAlchemyInstrumentor: the instrumentor patches
        # create_engine and Engine.connect process-wide (one more span per
        # connection), can instrument once per process, and refuses SQLAlchemy 2.1
        # by its declared range. The engine tracer listens to this engine only.
        tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        usage = NoOpMeter("sqlalchemy").create_up_down_counter("db.client.connections.usage")
        engine_tracer = EngineTracer(tracer, engine, usage)  # type: ignore[no-untyped-call]
        # Its pool listeners only feed that OpenTelemetry connection-usage metric,
        # which this service leaves to Prometheus (db_pool_*); four calls per
        # request for nothing, the most expensive part of it when measured.
        for identifier in ("connect", "close", "checkin", "checkout"):
            listener = getattr(engine_tracer, f"_pool_{identifier}", None)
            if listener is not None and event.contains(engine, identifier, listener):
                event.remove(engine, identifier, listener)
        return cls(provider)

    def fastapi_telemetry(self) -> TelemetryConfig:
        """FastAPI's native telemetry: server spans to our provider; metrics and logs stay Prometheus' and stdout's."""
        return {
            "tracer_provider": self.provider,
            "tracing": True,
            "metrics": False,
            "logs": False,
            # Spans per dependency, endpoint and serialization would put the
            # statements two levels down, and cost more per request than they tell.
            "operation_spans": False,
            "auto_configure": False,
            "exclude": _untraced,
        }

    def start(self) -> None:
        """In the serving process (lifespan startup): the exporter and its batching thread."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415
        from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        log.info(
            "tracing_started",
            service_name=self.provider.resource.attributes.get("service.name"),
            sampler=self.provider.sampler.get_description(),
        )

    async def shutdown(self) -> None:
        """Export what is left, within FLUSH_AT_SHUTDOWN_SECONDS: a collector that is down must not hold the exit."""
        flush = threading.Thread(target=self.provider.shutdown, name="otel-shutdown", daemon=True)
        flush.start()
        await anyio.to_thread.run_sync(flush.join, FLUSH_AT_SHUTDOWN_SECONDS)
