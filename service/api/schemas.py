"""Response shapes that exist only at the HTTP edge (health, readiness, errors)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class ErrorOut(BaseModel):
    detail: str


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadinessOut(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, str]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route really returns."""
    descriptions = {
        404: "Not found",
        # BodySizeLimitMiddleware answers it before the route runs (MAX_BODY_BYTES).
        413: "Request body larger than the configured limit (MAX_BODY_BYTES)",
        503: "Storage (database or models directory) temporarily unavailable; retry later",
    }
    return {code: {"model": ErrorOut, "description": descriptions[code]} for code in codes}
