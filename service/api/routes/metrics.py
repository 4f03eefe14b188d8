"""GET /metrics: the Prometheus scrape. Operational, so outside the public OpenAPI schema and any auth dependency."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from service.observability.metrics import Metrics

METRICS_PATH = "/metrics"


def router(metrics: Metrics) -> APIRouter:
    """The route for this app's metrics (built only when METRICS_ENABLED)."""
    metrics_router = APIRouter(tags=["observability"])

    @metrics_router.get(METRICS_PATH, include_in_schema=False)
    async def scrape(request: Request) -> Response:
        # In the threadpool: with several workers a scrape reads every worker's files.
        body, content_type = await run_in_threadpool(metrics.render, request.headers.get("accept"))
        return Response(body, headers={"Content-Type": content_type})

    return metrics_router
