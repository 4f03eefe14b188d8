"""Observability: Prometheus metrics (metrics.py, multiprocess.py) and OpenTelemetry tracing (tracing.py)."""
