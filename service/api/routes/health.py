"""Liveness (/health) and readiness (/ready) probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.api.dependencies import ReadinessServiceDep
from service.api.schemas import HealthOut, ReadinessOut

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers HTTP", operation_id="health-live")
async def health() -> HealthOut:
    # Never touches the database: a slow or locked database must not get the
    # process restarted by a liveness probe.
    return HealthOut(status="ok")


@router.get(
    "/ready",
    summary="Readiness: the database answers and the models directory is readable",
    operation_id="health-ready",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready; the failing check says why"}},
)
async def ready(readiness: ReadinessServiceDep) -> JSONResponse:
    report = await run_in_threadpool(readiness.check)
    body = ReadinessOut(status="ready" if report.ready else "unavailable", checks=report.checks)
    return JSONResponse(body.model_dump(), status_code=200 if report.ready else 503)
