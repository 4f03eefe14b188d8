"""What observability costs: GET /tasks/{id} and POST /tasks with metrics off and on, and tracing off, on and sampled.

Measured in the same interleaved rounds as the rest of the throughput figures
(run.py's interleaved()), one server per variant, all on core 0 and idle while
another is measured; wrk and the OTLP sink (bench/otlp_sink.py, a receiver that
discards) share core 1. Every variant is `python -m service` with the
benchmark's settings plus:

- metrics off: METRICS_ENABLED=false;
- metrics on: the defaults (metrics on, tracing off);
- tracing, always on: OTEL_EXPORTER_OTLP_ENDPOINT at the sink, OTEL_TRACES_SAMPLER=always_on
  (wrk sends no traceparent, so every request is a sampled root);
- tracing, sampled: parentbased_traceidratio at each ratio in SAMPLE_RATIOS;
- tracing, none sampled: always_off, the floor no sampling ratio goes below
  (FastAPI's server span work and the trace ids in the logs stay).

Goal (docs/performance.md): metrics cost at most 10 % of requests/s. Tracing's
cost is reported as measured, with the first sampling ratio under 10 %.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING

from bench.servers import Server, free_port

if TYPE_CHECKING:
    from bench.report import Goal
    from bench.run import Results, Workdir

METRICS_OFF, METRICS_ON = "metrics off", "metrics on"
ALWAYS_ON, ALWAYS_OFF = "tracing always_on", "tracing always_off"
SAMPLE_RATIOS = (0.1, 0.01)
MAX_COST = 0.10  # of requests/s
SINK_CPU = "1"  # with wrk: the server's core stays the server's


def sampled(ratio: float) -> str:
    return f"tracing {ratio:g}"


VARIANTS = [METRICS_OFF, METRICS_ON, ALWAYS_ON, *(sampled(ratio) for ratio in SAMPLE_RATIOS), ALWAYS_OFF]


def _settings(variant: str, sink: str) -> dict[str, str]:
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink, "OTEL_SERVICE_NAME": "task-api-bench"}
    if variant == METRICS_OFF:
        return {"METRICS_ENABLED": "false"}
    if variant == METRICS_ON:
        return {}
    if variant in (ALWAYS_ON, ALWAYS_OFF):
        return tracing | {"OTEL_TRACES_SAMPLER": variant.removeprefix("tracing ")}
    ratio = next(ratio for ratio in SAMPLE_RATIOS if sampled(ratio) == variant)
    return tracing | {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": f"{ratio:g}"}


class Sink:
    """bench/otlp_sink.py as a process pinned to SINK_CPU."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["taskset", "-c", SINK_CPU, sys.executable, "-m", "bench.otlp_sink", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise SystemExit("the OTLP sink did not start within 10 s")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> tuple[int, int]:
        """(export requests, bytes) received so far."""
        with urllib.request.urlopen(f"{self.endpoint}/stats", timeout=2) as response:  # noqa: S310 (loopback)
            data = json.load(response)
        return int(data["requests"]), int(data["bytes"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def measure(results: Results, work: Workdir) -> None:
    """Every variant on GET /tasks/{id} and POST /tasks, interleaved; what each tracing variant exported."""
    # Deferred: run.py imports this module.
    from bench.run import GET_TASK, POST_TASK, interleaved, service_env  # noqa: PLC0415

    sinks: dict[str, Sink] = {}  # one per tracing variant, so each one's exports are counted apart
    servers: dict[str, Server] = {}
    try:
        for variant in VARIANTS:
            endpoint = ""
            if variant.startswith("tracing"):
                sinks[variant] = Sink()
                endpoint = sinks[variant].endpoint
            port = free_port()
            env = service_env(work, port) | _settings(variant, endpoint)
            log = work.root / f"observability-{variant.replace(' ', '-')}.log"
            servers[variant] = Server(variant, [sys.executable, "-m", "service"], env, log, port)
            servers[variant].start()
        # Reads, then writes, as in the main rounds.
        interleaved(results, [(server, GET_TASK) for server in servers.values()])
        interleaved(results, [(server, POST_TASK) for server in servers.values()])
        for variant, sink in sinks.items():
            servers[variant].stop(timeout=10)  # it sends its last spans on the way out
            results.otlp_received[variant] = sink.stats()
    finally:
        for server in servers.values():
            server.stop(timeout=5)
        for sink in sinks.values():
            sink.stop()


# --------------------------------------------------------------------------- report
# bench.report imports this module: its helpers are imported when called.


def _reference(variant: str) -> str | None:
    """What a variant's cost is measured against: metrics against none, tracing against tracing off."""
    return {METRICS_OFF: None, METRICS_ON: METRICS_OFF}.get(variant, METRICS_ON)


def cost(results: Results, variant: str, label: str) -> float | None:
    """1 - the variant's requests/s ÷ its reference's: the share of throughput it costs."""
    from bench.report import ratio, rps  # noqa: PLC0415

    reference = _reference(variant)
    kept = ratio(rps(results, variant, label), rps(results, reference, label)) if reference else None
    return None if kept is None else 1 - kept


def _labels() -> list[str]:
    from bench.run import GET_TASK, POST_TASK  # noqa: PLC0415

    return [GET_TASK.label, POST_TASK.label]


def goals(results: Results) -> list[Goal]:
    """Metrics cost at most MAX_COST of requests/s, per endpoint."""
    from bench.report import Goal, percent  # noqa: PLC0415

    out = []
    for label in _labels():
        paid = cost(results, METRICS_ON, label)
        measured = None if paid is None else paid * 100
        out.append(Goal(f"{label}: metrics cost (req/s, on vs off)", MAX_COST * 100, measured, False, percent))
    return out


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _costs(results: Results, variant: str) -> str:
    return ", ".join(f"{_percent(cost(results, variant, label))} on `{label}`" for label in _labels())


def sampler_verdict(results: Results) -> str:
    """Tracing's cost as measured, and the largest sampling ratio under MAX_COST on both endpoints (if any)."""
    under = [
        ratio
        for ratio in SAMPLE_RATIOS
        if all((paid := cost(results, sampled(ratio), label)) is not None and paid <= MAX_COST for label in _labels())
    ]
    if under:
        ratio = max(under)
        fix = (
            f"`OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG={ratio:g}`, the largest ratio "
            f"measured under {MAX_COST * 100:.0f} % on both endpoints, costs {_costs(results, sampled(ratio))}."
        )
    else:
        ratios = ", ".join(f"{ratio:g}" for ratio in SAMPLE_RATIOS)
        fix = f"none of the ratios measured ({ratios}) is under {MAX_COST * 100:.0f} % on both endpoints."
    return (
        f"Tracing every request cost {_costs(results, ALWAYS_ON)}; {fix} With no request sampled at all "
        f"(`always_off`) it still costs {_costs(results, ALWAYS_OFF)}: the floor of any ratio, FastAPI's "
        "per-request span handling (a non-recording span still extracts the traceparent and builds its "
        "attributes), the SQL listeners' checks and the trace ids in the logs (docs/observability.md, Cost)."
    )


def section(results: Results) -> list[str]:
    from bench.report import fmt, p99, rps, table  # noqa: PLC0415

    if not any((METRICS_OFF, label) in results.throughput for label in _labels()):
        return []
    rows = []
    for variant in VARIANTS:
        received = results.otlp_received.get(variant)
        for label in _labels():
            reference = _reference(variant)
            rows.append(
                [
                    variant,
                    f"`{label}`",
                    fmt(rps(results, variant, label)),
                    fmt(p99(results, variant, label), ".2f"),
                    f"{_percent(cost(results, variant, label))} vs {reference}" if reference else "—",
                    f"{received[0]} / {received[1] / 1e6:.1f} MB" if received and variant.startswith("tracing") else "",
                ]
            )
    return [
        "## Observability cost",
        "",
        "The same service with metrics off (`METRICS_ENABLED=false`) and on (the default), and with tracing on: "
        "OTLP/HTTP to a local sink that discards (`bench/otlp_sink.py`, on core 1 with wrk), every request "
        "sampled (`always_on`; wrk sends no traceparent) or a share of them (`parentbased_traceidratio`). "
        "Interleaved rounds as above (same warm-up, runs and 32 connections). Cost = 1 - requests/s ÷ the "
        "reference's requests/s: metrics against metrics off, tracing against metrics on with tracing off.",
        "",
        *table(["variant", "endpoint", "req/s", "p99 ms", "cost", "OTLP exports / bytes"], rows, right_from=2),
        sampler_verdict(results),
        "",
    ]
